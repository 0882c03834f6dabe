"""gunicorn settings for the Gamma web (gthread: one thread per open WebSocket plus HTTP)."""

worker_class = "gthread"
graceful_timeout = 5
timeout = 30
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "warning"


def post_worker_init(worker):
    # On SIGTERM/SIGINT/SIGQUIT close this worker's WebSockets with 1012 first (else they hold it for the
    # whole graceful timeout); clients reconnect with their cursor.
    from web.hub import install_shutdown_signals

    install_shutdown_signals()
