"""The README's partial fine-tuning table (issue 18 point 2): 0, 1 and 2 trainable stages on the validation split.

    python scripts/bench_partial.py --workspace WS [--stages 0 1 2] [--epochs 2] [--warmup-epochs 40]
                                    [--save-best NAME]

Writes WS/eval/partial_bench.json and prints the markdown table. The test split is never read.
"""
from __future__ import annotations

import argparse
import time

from ctl_core.bench.partial import format_table, run_partial_bench
from ctl_core.config import Workspace
from ctl_core.io import atomic_write_json
from ctl_core.progress import TqdmProgress


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--stages", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs of the k >= 1 settings")
    ap.add_argument("--warmup-epochs", type=int, default=40, help="heads-only epochs (row 0; the others start there)")
    ap.add_argument("--save-best", default=None, metavar="NAME", help="write the best setting as run models/NAME")
    args = ap.parse_args()
    ws = Workspace.at(args.workspace)
    t0 = time.perf_counter()
    ws.eval_dir.mkdir(parents=True, exist_ok=True)

    def write(rows: list[dict]) -> None:  # after every row: an interrupted bench keeps what it measured
        atomic_write_json(ws.eval_dir / "partial_bench.json",
                          {"args": vars(args), "rows": rows, "wall_minutes": (time.perf_counter() - t0) / 60},
                          indent=1)

    rows = run_partial_bench(ws, stages=args.stages, epochs=args.epochs, warmup_epochs=args.warmup_epochs,
                             save_best=args.save_best, progress=TqdmProgress(), on_row=write,
                             say=lambda s: print(time.strftime("%H:%M:%S"), s, flush=True))
    print(format_table(rows))


if __name__ == "__main__":
    main()
