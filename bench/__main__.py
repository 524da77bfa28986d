"""``python -m bench reaction [--runs N] [--quick] [--json PATH]``, ``python -m bench judge``
(``--promotion-table`` for the time-to-promotion table),
``python -m bench scale [--rollouts N ...] [--json PATH]``,
``python -m bench scale-floor [--rollouts N] [--rounds R] [--json PATH]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="name", required=True)
    reaction = sub.add_parser("reaction", help="rollback time on the local mesh")
    reaction.add_argument("--runs", type=int, default=10)
    reaction.add_argument(
        "--quick", action="store_true", help="3 runs (a median of 3 stands one slow run)"
    )
    reaction.add_argument("--json", type=Path)
    judge = sub.add_parser("judge", help="judges compared on simulated traffic")
    judge.add_argument("--quick", action="store_true", help="7 scenarios, 40 runs")
    judge.add_argument("--runs", type=int, help="runs per scenario (default 1000)")
    judge.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
    judge.add_argument("--json", type=Path)
    judge.add_argument(
        "--promotion-table",
        action="store_true",
        help="ours' median time to full promotion against traffic and settings (200 runs)",
    )
    judge.add_argument(
        "--override",
        action="append",
        type=json.loads,
        help="spec.analysis overrides, a column of the promotion table: '{\"tolerance\": 0.5}'",
    )
    scale = sub.add_parser("scale", help="one controller under N concurrent rollouts")
    scale.add_argument(
        "--rollouts", type=int, action="append", help="N (repeatable; default 1, 100, 1000)"
    )
    scale.add_argument("--cycles", type=int, default=6, help="analysis intervals measured")
    scale.add_argument("--json", type=Path)
    floor = sub.add_parser("scale-floor", help="CPU of N status writes alone (the floor)")
    floor.add_argument("--rollouts", type=int, default=1000)
    floor.add_argument("--rounds", type=int, default=5)
    floor.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.name == "scale-floor":
        from bench.scale.floor import run as floor_run

        floor_run(args.rollouts, args.rounds, args.json)
        return 0
    if args.name == "scale":
        from bench.scale.run import run as scale_run

        scale_run(args.rollouts or [1, 100, 1000], args.json, args.cycles)
        return 0
    if args.name == "judge" and args.promotion_table:
        from bench.judge.promotion import main as promotion_main

        promotion_main(args.runs, args.override)
        return 0
    if args.name == "judge":
        from bench.judge.report import main as judge_main

        only = tuple(args.scenario) if args.scenario else None
        judge_main(args.quick, args.runs, args.json, only)
        return 0
    from bench.reaction import run

    report = run(3 if args.quick else args.runs, args.json)
    return 0 if report["reaction_s"]["median"] <= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
