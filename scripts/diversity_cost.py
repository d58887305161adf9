"""What diversity within each category row costs (row recall@k of held-out outfit-mates) and buys (less alike rows).

    CTL_WORKSPACE=workspace-mango .venv/bin/python scripts/diversity_cost.py --model triplet-category \
        [--weights 0 0.05 0.1 0.2] [--k 6] [--max-queries N] [--results]

See ``ctl_core.bench.diversity``. ``--results``: also ``docs/results/diversity_<workspace>.json|md``, stamped.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ctl_core.bench.diversity import diversity_cost, format_diversity
from ctl_core.config import Workspace
from ctl_core.workflows.report import workspace_name
from ctl_core.workflows.results import Stamp, script_command, write_script_result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", default=None, help="default: $CTL_WORKSPACE or ./workspace")
    p.add_argument("--model", default="triplet-category")
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2])
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--max-queries", type=int, default=None)
    p.add_argument("--results", action="store_true", help="also write docs/results/diversity_<workspace>.json|md")
    args = p.parse_args()
    started = Stamp.now(script_command(sys.argv))
    ws = Workspace.at(args.workspace)
    rows = diversity_cost(ws, args.model, tuple(args.weights), k=args.k, max_queries=args.max_queries)
    text = format_diversity(rows, args.k)
    print(text)
    if args.results:
        from dataclasses import asdict
        print("written:", write_script_result(f"diversity_{workspace_name(ws)}",
                                              f"Row diversity: what it costs and buys on {workspace_name(ws)}", text,
                                              {"model": args.model, "k": args.k, "rows": [asdict(r) for r in rows]},
                                              started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
