"""``python -m meshlab.run --state-dir DIR``: keep a lab up until SIGTERM.

``rollout lab up`` starts this in the background; it writes ``state.json`` (the
addresses and every process id) once the lab is ready and ``traffic.json`` (what
clients saw) every second, and on SIGTERM stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from meshlab.stack import LocalStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshlab.run")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--rps", type=float, default=100.0)
    parser.add_argument("--no-controller", action="store_true")
    args = parser.parse_args(argv)
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    lab = LocalStack(args.state_dir, rps=args.rps, with_controller=not args.no_controller).up()
    state = args.state_dir / "state.json"
    try:
        state.write_text(json.dumps({**lab.state(), "supervisor": os.getpid(), "ready": True}))
        while not done.wait(1.0):
            seen = [{"version": v, "status": s, "count": n} for (v, s), n in lab.seen().items()]
            (args.state_dir / "traffic.json").write_text(json.dumps(seen))
    finally:
        lab.down()
        state.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
