"""gunicorn settings for the Gamma web (gthread: one thread per open WebSocket plus HTTP)."""

worker_class = "web.gunicorn_worker.JsonErrorWorker"  # gthread, with JSON protocol errors
graceful_timeout = 5
timeout = 30
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "warning"


def when_ready(server):
    # What is really bound, not GAMMA_HOST: refuse to serve beyond loopback without a token. A RuntimeError
    # makes gunicorn print it and exit 1; a bad setting (ConfigError) exits with its own message.
    from shared.config import load_settings
    from web import binding
    from web.security import public_bind_refusal

    settings = load_settings()
    listeners = [binding.listener_of(listener) for listener in server.LISTENERS]
    public = [lnr for lnr in listeners if lnr is not None and not binding.is_loopback(lnr.host)]
    if public and not settings.api_token:
        raise RuntimeError(public_bind_refusal(f"the bound address {public[0].host}:{public[0].port}"))


def post_worker_init(worker):
    from web import binding
    from web.hub import install_shutdown_signals

    binding.record(worker.sockets, worker.cfg.threads)
    # On SIGTERM/SIGINT/SIGQUIT close this worker's WebSockets with 1012 first (else they hold it for the
    # whole graceful timeout); clients reconnect with their cursor.
    install_shutdown_signals()
