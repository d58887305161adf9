"""Check the slot rule on a built workspace: no recommendation list holds a product of the query's own slot.

    CTL_WORKSPACE=workspace-mango .venv/bin/python scripts/check_slots.py --model triplet-category [--n 2000] [--json]

Asks the recommender for every catalogue product (or a seeded sample of ``--n``) and checks the blended list and
every per-category row against the query by the shop's own categories (``ctl_core.bench.slots``).
Exit status 1 when any list breaks the rule.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ctl_core.bench.slots import check_slots
from ctl_core.config import Workspace


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", default=None, help="default: $CTL_WORKSPACE or ./workspace")
    p.add_argument("--model", default="triplet-category")
    p.add_argument("--n", type=int, default=None, help="sample this many catalogue products (default: all)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    report = check_slots(Workspace.at(args.workspace), args.model, n=args.n, k=args.k)
    print(json.dumps(report.to_dict()) if args.json else report)
    if report.examples and not args.json:
        print("  e.g. " + "; ".join(report.examples[:5]))
    return 1 if report.same_slot or report.incompatible else 0


if __name__ == "__main__":
    sys.exit(main())
