"""gunicorn settings for the Gamma web (gthread: one thread per open WebSocket plus HTTP)."""

worker_class = "gthread"
graceful_timeout = 5
timeout = 30
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "warning"
