"""gunicorn settings for the Gamma web (gthread: one thread per open WebSocket plus HTTP).

gunicorn's master reads this file and imports the worker class, nothing else of Gamma: every hook that needs the
app's modules runs in the worker, so the master stays a bare gunicorn (some 23 MB resident instead of 64).
"""

import sys

worker_class = "web.gunicorn_worker.JsonErrorWorker"  # gthread, with JSON protocol errors
graceful_timeout = 5
timeout = 30
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "warning"

WORKER_BOOT_ERROR = 3  # gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR: the master stops instead of restarting it


def post_fork(server, worker):
    """In the worker, before it loads the app or serves anything: a bad setting, or a bind beyond loopback
    without a token, ends gunicorn. Exiting with its WORKER_BOOT_ERROR (3) makes the master stop ("Worker failed
    to boot") and exit 3, instead of starting the worker again and again."""
    from shared.config import ConfigError, load_settings
    from web import binding
    from web.security import public_bind_refusal

    try:
        settings = load_settings()
    except ConfigError as error:
        worker.log.error("%s", error)
        sys.exit(WORKER_BOOT_ERROR)
    # What is really bound, not GAMMA_HOST: refuse to serve beyond loopback without a token.
    listeners = [binding.listener_of(listener) for listener in worker.sockets]
    public = [lnr for lnr in listeners if lnr is not None and not binding.is_loopback(lnr.host)]
    if public and not settings.api_token:
        worker.log.error(public_bind_refusal(f"the bound address {public[0].host}:{public[0].port}"))
        sys.exit(WORKER_BOOT_ERROR)


def post_worker_init(worker):
    from web import binding
    from web.hub import install_shutdown_signals

    binding.record(worker.sockets, worker.cfg.threads)
    # On SIGTERM/SIGINT/SIGQUIT close this worker's WebSockets with 1012 first (else they hold it for the
    # whole graceful timeout); clients reconnect with their cursor.
    install_shutdown_signals()
