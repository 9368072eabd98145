"""Every issue 15 target a run measured, as one table: the JSON lines the bench scripts appended (common.target).

    .venv/bin/python bench/targets.py var/bench-targets.jsonl     # the table, grouped by script, met / not met
    .venv/bin/python bench/targets.py --clear var/bench-targets.jsonl     # a new run: the file removed

`make bench` clears the file, runs every script with RHYTHMIC_BENCH_TARGETS naming it, then prints this table.
"""

import argparse
import json
from pathlib import Path

from common import TARGETS_HEADER, TARGETS_LEGEND, target_row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="the JSON lines of RHYTHMIC_BENCH_TARGETS")
    parser.add_argument("--clear", action="store_true", help="remove the file (the start of a run) and print nothing")
    args = parser.parse_args()

    if args.clear:
        args.file.unlink(missing_ok=True)
        args.file.parent.mkdir(parents=True, exist_ok=True)
        return
    lines = args.file.read_text().splitlines() if args.file.exists() else []
    rows = [json.loads(line) for line in lines if line.strip()]
    by_script: dict[str, list[dict]] = {}
    for row in rows:
        by_script.setdefault(row["script"], []).append(row)
    print(f"# issue 15's targets of this run ({args.file})")
    if not rows:
        print("no target measured")
        return
    print(TARGETS_LEGEND)
    for script, script_rows in by_script.items():
        met = sum(1 for row in script_rows if row["met"])
        print(f"## {script}: {met} met, {len(script_rows) - met} not met")
        print(TARGETS_HEADER)
        for row in script_rows:
            print(target_row(row))
    met = sum(1 for row in rows if row["met"])
    print(f"# {len(rows)} targets: {met} met, {len(rows) - met} not met")


if __name__ == "__main__":
    main()
