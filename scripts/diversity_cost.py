"""What diversity within each category row costs (row recall@k of held-out outfit-mates) and buys (less alike rows).

    CTL_WORKSPACE=workspace-mango .venv/bin/python scripts/diversity_cost.py --model triplet-category \
        [--weights 0 0.05 0.1 0.2] [--k 6] [--max-queries N]

See ``ctl_core.bench.diversity``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ctl_core.bench.diversity import diversity_cost, format_diversity
from ctl_core.config import Workspace


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", default=None, help="default: $CTL_WORKSPACE or ./workspace")
    p.add_argument("--model", default="triplet-category")
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2])
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--max-queries", type=int, default=None)
    args = p.parse_args()
    rows = diversity_cost(Workspace.at(args.workspace), args.model, tuple(args.weights), k=args.k,
                          max_queries=args.max_queries)
    print(format_diversity(rows, args.k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
