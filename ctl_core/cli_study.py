"""The human-evaluation actions of ``study`` beyond create/list: ``report``, ``plan``, ``simulate`` and the tidy
``export``. Parsers and handlers only; the logic lives in ``db.report``, ``db.human`` and
``ctl_core.workflows.human_sim``. ``ctl_core.cli`` registers them."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

ACTIONS = ("report", "plan", "simulate", "export")


def add_study_parsers(ssub) -> None:
    r = ssub.add_parser("report", help="per-model precision, paired comparisons (A − B with 95%% CI and p), "
                        "agreement, annotator quality, corrected precision")
    r.add_argument("--study", required=True, help="study name or id")
    r.add_argument("--basis", choices=("all", "majority", "adjudicated"), default="all",
                   help="which verdicts: every judgment (default), the majority per pair, or adjudicated")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    p = ssub.add_parser("plan", help="queries and judgments needed to detect a difference between two models")
    p.add_argument("--diff", type=float, required=True, help="difference to detect, in precision points (e.g. 5)")
    p.add_argument("--annotators", type=int, default=2, help="annotators per pair (default 2)")
    p.add_argument("--k", type=int, default=5, help="top K per query and model (default 5)")
    p.add_argument("--gold-share", type=float, default=0.1, help="share of judgments on gold pairs (default 0.1)")
    p.add_argument("--models", type=int, default=2, help="models in the study (default 2)")
    p.add_argument("--precision", type=float, default=0.5, help="expected precision (default 0.5)")
    p.add_argument("--power", type=float, default=0.8)
    p.add_argument("--pilot", default=None, help="a finished study (name or id) to measure the variance from")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    s = ssub.add_parser("simulate", help="coverage of the 95%% intervals over simulated studies with known truth")
    s.add_argument("--studies", type=int, default=1000, help="simulated studies per design (default 1000)")
    s.add_argument("--annotators", type=int, nargs="+", default=[1, 2, 3])
    s.add_argument("--queries", type=int, nargs="+", default=[60, 120, 300])
    s.add_argument("--db-every", type=int, default=200, help="every Nth study also through the database (0: none)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--corrected-boot", type=int, default=0, metavar="N", help="also the coverage of the corrected "
                   "precision's bootstrap interval, N resamples a study (slow: N Dawid-Skene fits a study; 0: not)")
    s.add_argument("--out", type=Path, default=Path("docs/results/human_eval_coverage"),
                   help="writes OUT.json and OUT.md (default docs/results/human_eval_coverage)")


def handles(args) -> bool:
    return args.study_command in ACTIONS


def run(ws, args, engine, progress) -> None:
    from ctl_core.workflows import study as study_flow
    from db import human, report
    cmd = args.study_command
    if cmd == "export":
        for path in report.export_study(engine, study_flow.resolve_study(engine, args.study), args.out):
            print(f"written: {path}")
    elif cmd == "report":
        rep = report.study_report(engine, study_flow.resolve_study(engine, args.study), basis=args.basis)
        if args.json:
            from ctl_core.io import to_jsonable
            print(json.dumps(to_jsonable(rep), default=str))
        else:
            print(report.format_report(rep))
    elif cmd == "plan":
        comps = None
        if args.pilot is not None:
            obs, _ = report.study_observations(engine, study_flow.resolve_study(engine, args.pilot))
            comps = human.variance_components(obs, source=f"measured on study {args.pilot!r}")
            if comps is None:
                raise ValueError(f"study {args.pilot!r} has too few judgments to measure the variance from")
        secs, source = report.median_seconds_per_judgment(engine)
        plan = human.plan_paired_comparison(args.diff, annotators=args.annotators, top_k=args.k,
                                            gold_share=args.gold_share, precision=args.precision, power=args.power,
                                            models=args.models, seconds_per_judgment=secs, seconds_source=source,
                                            components=comps)
        print(json.dumps(plan.to_dict()) if args.json else plan.text())
    else:
        from ctl_core.workflows import human_sim
        if args.studies < 1:
            raise ValueError("--studies must be at least 1")
        results = human_sim.run_designs(args.annotators, args.queries, studies=args.studies, seed=args.seed,
                                        db_every=args.db_every, progress=progress,
                                        corrected_boot=args.corrected_boot)
        if hasattr(progress, "close"):
            progress.close()
        command = (f"OMP_NUM_THREADS=1 nice -n 19 python -m ctl_core study simulate --studies {args.studies} "
                   f"--annotators {' '.join(map(str, args.annotators))} --queries "
                   f"{' '.join(map(str, args.queries))} --db-every {args.db_every} --seed {args.seed} "
                   + (f"--corrected-boot {args.corrected_boot} " if args.corrected_boot else "")
                   + f"--out {shlex.quote(str(args.out))}")
        for path in human_sim.write_coverage(results, args.out, command):
            print(f"written: {path}")
        print(human_sim.coverage_table(results))
