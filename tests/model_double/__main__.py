"""`python -m tests.model_double [--port N] [--default-brain NAME]`: serve until SIGTERM or Ctrl-C.

Prints `MODEL_DOUBLE_URL=http://host:port` on stdout once it listens, so a parent process can read the port.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from tests.model_double.brains import DEFAULT_BRAIN
from tests.model_double.server import ModelDouble


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.model_double", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--default-brain", default=DEFAULT_BRAIN, help="brain for requests without a marker")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with ModelDouble(args.port, args.host, default_brain=args.default_brain) as double:
        print(f"MODEL_DOUBLE_URL={double.url}", flush=True)
        done.wait()


if __name__ == "__main__":
    main()
