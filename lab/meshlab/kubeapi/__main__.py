"""``python -m meshlab.kubeapi --port PORT --kubeconfig-out PATH``: the emulator alone.

Serves our CRD and Istio's until interrupted, so kubectl, the CLI or a script
can use it through the written kubeconfig.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from meshlab.kubeapi.server import KubeAPI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshlab.kubeapi", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--kubeconfig-out", type=Path, help="write a kubeconfig for it here")
    parser.add_argument("--namespace", default="default", help="the kubeconfig's namespace")
    args = parser.parse_args(argv)

    api = KubeAPI()
    api.listen(args.port, args.host)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if args.kubeconfig_out:
        api.write_kubeconfig(args.kubeconfig_out, args.namespace)
    print(f"kubeapi serving {api.url}", flush=True)
    if args.kubeconfig_out:
        print(f"kubeconfig written to {args.kubeconfig_out}", flush=True)
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
