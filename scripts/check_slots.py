"""Check the slot rule on a built workspace: no recommendation list holds a product of the query's own slot.

    CTL_WORKSPACE=workspace-mango .venv/bin/python scripts/check_slots.py --model triplet-category [--n 2000] [--json]
        [--results]

Asks the recommender for every catalogue product (or a seeded sample of ``--n``) and checks the blended list and
every per-category row against the query by the shop's own categories (``ctl_core.bench.slots``).
Exit status 1 when any list breaks the rule. ``--results``: also ``docs/results/slots_<workspace>.json|md``, stamped.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ctl_core.bench.slots import check_slots
from ctl_core.config import Workspace
from ctl_core.workflows.report import workspace_name
from ctl_core.workflows.results import Stamp, script_command, write_script_result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", default=None, help="default: $CTL_WORKSPACE or ./workspace")
    p.add_argument("--model", default="triplet-category")
    p.add_argument("--n", type=int, default=None, help="sample this many catalogue products (default: all)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.add_argument("--results", action="store_true", help="also write docs/results/slots_<workspace>.json|md")
    args = p.parse_args()
    started = Stamp.now(script_command(sys.argv))
    ws = Workspace.at(args.workspace)
    report = check_slots(ws, args.model, n=args.n, k=args.k)
    if args.results:
        print("written:", write_script_result(f"slots_{workspace_name(ws)}", f"Slot rule on {workspace_name(ws)}",
                                              f"```text\n{report}\n```", report.to_dict(), started))
    print(json.dumps(report.to_dict()) if args.json else report)
    if report.examples and not args.json:
        print("  e.g. " + "; ".join(report.examples[:5]))
    return 1 if report.same_slot or report.incompatible else 0


if __name__ == "__main__":
    sys.exit(main())
