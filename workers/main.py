"""One worker process: Dramatiq's worker threads consuming Gamma's run queues, in this process alone.

    python -m workers.main --threads N --shutdown-timeout SECONDS

`gamma worker` runs one per `--processes` under a lean supervisor (`shared.launcher supervise`) that starts a
process again when it dies. dramatiq's own command would put a master process in between (some 27 MB resident)
for what Gamma does not use — log pipes, fork functions, reloads on SIGHUP — and its processes notice a stop
only at their next one-second tick.

SIGTERM, SIGINT or SIGHUP stops it: Dramatiq stops consuming, the runs in progress are handed back
(workers.middleware, within --shutdown-timeout) and it exits 0. A signal while it stops changes nothing: handing
back must finish, or the runs' tool processes would be left behind. A stop to the whole process group comes twice
(directly, and forwarded by the supervisor), so the handler takes no lock: it notes the signal, and the main thread,
woken by the signal's wakeup fd, does the rest (a threading.Event set from the handler deadlocked when the second
signal interrupted the first handler inside the Event's lock).
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import sys

import dramatiq

log = logging.getLogger(__name__)

# How soon idle worker threads and queue consumers notice a stop (Dramatiq's default is 1 s). Idle, each wakes
# this often to look, which costs no query: the consumers wait on their LISTEN connection.
WORKER_TIMEOUT_MS = 200
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
EXIT_BOOT_FAILED = 3  # as dramatiq's RET_CONNECT: the supervisor starts it again after its back-off


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.main", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, required=True, help="worker threads: runs at once")
    parser.add_argument("--shutdown-timeout", type=float, required=True,
                        help="seconds a stop waits for the runs in progress to be handed back")
    args = parser.parse_args(argv)

    received: list[int] = []  # the stop signals, in order: appending takes no lock

    def request_stop(signum: int, _frame: object) -> None:
        received.append(signum)

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    # Each signal writes a byte, and the main thread's select returns. Once it stops, nothing reads them: a full
    # pipe only drops bytes, nothing to warn about.
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    for signum in STOP_SIGNALS:
        signal.signal(signum, request_stop)
    try:
        from workers.actors import broker  # noqa: PLC0415 - configures logging and the broker, declares the actors

        broker.emit_after("process_boot")
        worker = dramatiq.Worker(broker, worker_threads=args.threads, worker_timeout=WORKER_TIMEOUT_MS)
        worker.start()
    except Exception:
        log.exception("the worker could not start")
        return EXIT_BOOT_FAILED
    log.info("worker process ready: %d threads", args.threads)
    while not received:
        select.select([wake_read], [], [])
        os.read(wake_read, 4096)
    log.info("stopping (%s): handing back the runs", signal.Signals(received[0]).name)
    worker.stop(timeout=int(args.shutdown_timeout * 1000))
    broker.close()
    if len(received) > 1:
        log.info("%d more stop signal(s) came while it stopped: handing back finished first", len(received) - 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
