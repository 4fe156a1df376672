"""What the benchmark scripts beside it share: their command line and where their results go."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_script(doc: str, name: str, run, markdown, argv=None) -> int:
    """`--quick`, `--repeats`, `--no-write`; results/NAME.json and NAME.md; status 1 if a result disagreed."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a test run")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats)
    text = markdown(result)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
        (RESULTS / f"{name}.md").write_text(text)
    return 0 if all(r["agree"] for r in result["rows"]) else 1
