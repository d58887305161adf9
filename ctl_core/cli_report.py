"""``python -m ctl_core report``: its arguments and its run (the workflow is ``ctl_core.workflows.report``)."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path


def add_report_parser(sub) -> None:
    r = sub.add_parser("report", help="rerun every measured table of the README into docs/results/ (JSON + Markdown, "
                       "stamped with commit, date, machine and command)")
    r.add_argument("--demo", action="store_true", help="the demo's tables (default when no --real is given); the "
                   "demo is built in --workspace first when missing")
    r.add_argument("--real", type=Path, nargs="+", default=[], metavar="DIR",
                   help="built real-data workspaces (e.g. workspace-mango): their Table 4, FITB file, duplicates, "
                        "category accuracy on held-out photos, product-shot check against the stored labels")
    r.add_argument("--quick", action="store_true", help="the demo's evaluation tables only, no benchmarks "
                   "(minutes on a fresh clone)")
    r.add_argument("--only", nargs="+", default=[], metavar="TABLE", help="only these tables (names or prefixes, "
                   "e.g. serving table4): the others' files stay as they are")
    r.add_argument("--out", type=Path, default=None, help="results folder (default: docs/results)")
    r.add_argument("--no-readme", action="store_true", help="leave README.md's generated blocks as they are")
    r.add_argument("--sync-readme", action="store_true", help="only copy the results files into README.md's "
                   "generated blocks (measures nothing)")
    r.add_argument("--size", type=int, default=3000, help="demo outfits (default 3000, the README's demo)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--queries", type=int, default=200, help="queries for the duplicate counts")
    r.add_argument("--repeats", type=int, default=5, help="benchmark repeats (median and range)")
    r.add_argument("--ray-rounds", type=int, default=3, help="rounds of local vs Ray")
    r.add_argument("--serve-items", type=int, default=1_000_000, help="catalogue size of the serving benchmark")
    r.add_argument("--real-ray", action="store_true", help="also local vs Ray on each --real workspace (long)")
    r.add_argument("--real-tuning", action="store_true", help="also the validation-split tuning table of "
                   "triplet-category on each --real workspace (five trainings; the test split is not read)")
    r.add_argument("--threads", type=int, default=None, help="torch threads for every table (default: CTL_THREADS "
                   "or OMP_NUM_THREADS when set, else every usable core; recorded in each file's stamp)")
    r.add_argument("--labels", type=Path, default=None, help="product-shot labels CSV "
                   "(default: docs/results/labels/product_shot_labels.csv)")
    r.add_argument("--photos", type=Path, default=None, help="the labelled photos' folder (images/<id>.jpg; default "
                   "../shared/real/fashion-product-images)")


def run_report(ws, args, progress) -> int:
    from ctl_core.config import PROJECT_ROOT
    from ctl_core.workflows import report
    from ctl_core.workflows.results import sync_readme

    readme = None if args.no_readme else PROJECT_ROOT / "README.md"
    if args.sync_readme:
        for f in sync_readme(PROJECT_ROOT / "README.md"):
            print(f"README block filled from {f}")
        return 0
    command = "python -m ctl_core " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if sys.argv and sys.argv[0].endswith(("__main__.py", "ctl")) else "python -m ctl_core report"
    cfg = report.ReportConfig(
        demo=args.demo or not args.real, real=tuple(args.real), quick=args.quick,
        out_dir=args.out or report.RESULTS_DIR, readme=readme, command=command, demo_size=args.size, seed=args.seed,
        duplicate_queries=args.queries, repeats=args.repeats, ray_rounds=args.ray_rounds,
        serve_items=args.serve_items, real_ray=args.real_ray, real_tuning=args.real_tuning,
        labels=args.labels or report.LABELS_CSV,
        photos=args.photos or report.DEFAULT_PHOTOS, only=tuple(args.only), threads=args.threads)
    out = report.run_report(ws, cfg, progress=progress)
    progress.close()
    for name, why in out.skipped.items():
        print(f"skipped {name}: {why}")
    print(f"written: {len(out.written)} tables under {cfg.out_dir}"
          + (f"; README blocks refreshed: {', '.join(out.readme_blocks)}" if out.readme_blocks else ""))
    return 0


__all__ = ["add_report_parser", "run_report"]
