"""``python -m ctl_core``: the command line over the library. Argument parsing lives here and nowhere else."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ctl_core import cli_admin, cli_report, cli_study
from ctl_core.config import (
    DEFAULT_BACKBONE,
    METHODS,
    OUTFIT_METHOD,
    RERANK_CANDIDATES,
    RERANKED_SUFFIX,
    Workspace,
    default_workspace,
)
from ctl_core.progress import TqdmProgress


def add_recipe_arg(p: argparse.ArgumentParser) -> None:
    from ctl_core.training.recipes import DEFAULT_RECIPE, RECIPES
    p.add_argument("--recipe", choices=list(RECIPES), default=DEFAULT_RECIPE,
                   help="training defaults: 'validated' (the settings that scored best on a validation split; "
                        "default) or 'paper' (the paper's, as in the README's Table 4 reproduction)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ctl_core", description="Complete The Look: data, training, "
                                "evaluation, indices, recommendations and human-evaluation studies.")
    p.add_argument("--workspace", type=Path, default=None,
                   help=f"folder for everything generated (default: $CTL_WORKSPACE or {default_workspace()})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="build the demo universe, dataset, features, all models and indices "
                       "(each step skipped when its output is already there)")
    d.add_argument("--size", type=int, default=3000, help="number of demo outfits (default 3000)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--force", action="store_true", help="rebuild every step")
    d.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    d.add_argument("--no-evaluate", action="store_true", help="skip the offline evaluation step")
    d.add_argument("--export", action="store_true", help="also export each model to TorchScript")
    add_recipe_arg(d)
    add_engine_args(d)

    imp = sub.add_parser("import", help="bring a real source into the workspace (prints the bad-input report)")
    isub = imp.add_subparsers(dest="source", required=True, metavar="SOURCE")
    of = isub.add_parser("outfits", help="outfit tables: the Mango datathon layout (datathon/dataset/*.csv) or "
                         "products.csv + outfits.csv")
    of.add_argument("folder", type=Path)
    of.add_argument("--replace", action="store_true", help="allow an import that removes every product this "
                    "source imported before")
    t = isub.add_parser("ctl-tsv", help="the released CTL dataset: raw_*.tsv + a folder of collage images")
    t.add_argument("tsv", type=Path, nargs="+", help="raw_train.tsv and/or raw_test.tsv (import both in one call: "
                   "each import replaces the rows of its own source)")
    t.add_argument("--images", type=Path, required=True, help="folder of collage images named by signature")
    t.add_argument("--fitb", type=Path, default=None, help="the release's fitb_eval.json")
    t.add_argument("--replace", action="store_true", help="allow an import that removes every box this source "
                   "imported before")
    pv = isub.add_parser("polyvore", help="a Polyvore Outfits folder (Vasileva et al. 2018)")
    pv.add_argument("root", type=Path)
    pv.add_argument("--variant", choices=["nondisjoint", "disjoint"], default="nondisjoint")
    pv.add_argument("--replace", action="store_true", help="allow an import that removes every product this "
                    "source imported before")
    fo = isub.add_parser("folder", help="a folder of product images, optional CSV (id, category, price, title)")
    fo.add_argument("folder", type=Path)
    fo.add_argument("--csv", type=Path, default=None)
    fo.add_argument("--replace", action="store_true", help="allow an import that removes every product this "
                    "source imported before (e.g. a header-only CSV)")
    fo.add_argument("--purpose", choices=["catalogue", "categories"], default=None,
                    help="catalogue: serve the products; categories: only teach the category head with them "
                         "(default: categories when the catalogue already holds an outfit source's products)")

    ds = sub.add_parser("dataset", help="run the cleanup rules and the train/test split on the imported boxes")
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--test-fraction", type=float, default=0.15)

    tr = sub.add_parser("train", help="train one method (over cached backbone features, or end-to-end)")
    tr.add_argument("--method", required=True, choices=[*METHODS, OUTFIT_METHOD],
                    help=f"one of the five Table-4 methods, or {OUTFIT_METHOD} (the outfit model; early-stopped on a "
                         "validation split of the training outfits; takes --epochs, --lr, --seed, --backbone)")
    tr.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    add_recipe_arg(tr)
    tr.add_argument("--batch-size", type=int, default=None)
    tr.add_argument("--lr", type=float, default=None)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--mode", choices=["heads", "end-to-end", "partial"], default="heads",
                    help="heads: over cached features (CPU default); end-to-end: fine-tune the backbone too (GPU); "
                         "partial: fine-tune the backbone's last --trainable-stages from cached activations (CPU)")
    tr.add_argument("--trainable-stages", type=int, default=None,
                    help="partial: backbone stages fine-tuned (default 1; Lite0 has 8, all of them = end to end)")
    tr.add_argument("--warmup-epochs", type=int, default=None,
                    help="partial: epochs of heads alone on the frozen features before fine-tuning (default 0)")
    tr.add_argument("--device", default="auto")
    tr.add_argument("--backbone", default=DEFAULT_BACKBONE)
    tr.add_argument("--chunk-size", type=int, default=None,
                    help="end-to-end: images per forward/backward chunk, the loss still over the whole batch "
                         "(gradient caching; default 32; 0 = the whole batch at once)")
    tr.add_argument("--metadata", nargs="*", default=None, metavar="FIELD",
                    help="catalogue fields fed to the style head beside the image (product_type colour fabric "
                         "group_id product_id; none given: image only)")
    tr.add_argument("--meta-dropout", type=float, default=None, help="share of items trained without metadata")
    tr.add_argument("--margin", type=float, default=None, help="loss margin (default: the method's own)")
    tr.add_argument("--items-per-outfit", type=int, default=None, help="items drawn per outfit in a batch")
    tr.add_argument("--negatives-per-positive", type=int, default=None,
                    help="triplet methods: negatives drawn from the batch per (anchor, positive) (default: the "
                         "recipe's; the paper's 1)")
    tr.add_argument("--validate", action="store_true",
                    help="tune: hold out 15%% of the TRAINING outfits, train on the rest and print the validation "
                         "figures (nothing is written; the test split is not read)")
    tr.add_argument("--val-fraction", type=float, default=0.15, help="--validate: share of training outfits held out")

    bu = sub.add_parser("build", help="after an import: dataset, features, the methods, evaluation and indices "
                        "(each step skipped when its output is up to date; wall time per step)")
    bu.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    bu.add_argument("--seed", type=int, default=0)
    bu.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's)")
    add_recipe_arg(bu)
    bu.add_argument("--no-outfit-model", action="store_true",
                    help=f"do not train the outfit model ({OUTFIT_METHOD}: re-ranking and partial outfits)")
    bu.add_argument("--backbone", default=DEFAULT_BACKBONE)
    bu.add_argument("--force", action="store_true", help="rebuild every step")
    bu.add_argument("--no-evaluate", action="store_true", help="skip the offline evaluation step")
    add_engine_args(bu)

    ev = sub.add_parser("evaluate", help="the Table-4 comparison of every trained model (R@K, FITB, category acc.); "
                        "with --fitb, your own fill-in-the-blank questions by product id")
    ev.add_argument("--methods", nargs="+", choices=METHODS, default=None)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--fitb", type=Path, default=None, metavar="FILE", help='JSON list of {"question": [product_id, '
                    '...], "answers": [product_id, ...], "correct": 0}, scored on the catalogue embeddings')
    ev.add_argument("--json", action="store_true", help="with --fitb: print one JSON object")
    ev.add_argument("--make-fitb", type=Path, default=None, metavar="OUT", help="write the test split's FITB "
                    "questions (the Table-4 protocol's, drawn with --seed) by product id to OUT, for --fitb")

    ix = sub.add_parser("index", help="catalogue inference and per-category indices for one model")
    ix.add_argument("--model", required=True, choices=METHODS)
    ix.add_argument("--device", default="auto")
    add_engine_args(ix)

    ex = sub.add_parser("export", help="export backbone + heads to TorchScript for serving")
    ex.add_argument("--model", required=True, choices=METHODS)

    rc = sub.add_parser("recommend", help="the four-stage recommender for a catalogue item or an image")
    rc.add_argument("--model", required=True, choices=METHODS)
    rc.add_argument("--item", action="append", default=[], metavar="ID",
                    help="catalogue product id; repeat it for a partial outfit (up to 5 products with --image): only "
                         "the categories the outfit still lacks are served")
    rc.add_argument("--image", type=Path, help="path of a product image (with --item: one more product of the outfit)")
    rc.add_argument("--k", type=int, default=10)
    rc.add_argument("--no-rerank", action="store_true",
                    help="do not re-rank with the outfit model (it re-ranks by default once trained)")
    rc.add_argument("--rerank-candidates", type=int, default=RERANK_CANDIDATES,
                    help="ANN candidates per category that the outfit model re-orders (default 50)")
    rc.add_argument("--max-categories", type=int, default=None)
    rc.add_argument("--price-weight", type=float, default=0.0, help="price-aware blending term (0 = off)")
    rc.add_argument("--diversity", type=float, default=0.0, help="diversity blending term (0 = off)")
    rc.add_argument("--device", default="auto")
    rc.add_argument("--json", action="store_true", help="print one JSON object")
    rc.add_argument("--refuse-non-product", action="store_true",
                    help="--image: refuse an image that does not look like a product shot (default: warn)")
    rc.add_argument("--show-duplicates", action="store_true",
                    help="keep colour variants of one model (same group_id) and near-identical images in the lists")

    un = sub.add_parser("understand", help="query understanding for images or folders of images: category, "
                        "confidence, product-shot score, warning (batched)")
    un.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="image files or folders of images")
    un.add_argument("--model", required=True, choices=METHODS)
    un.add_argument("--batch-size", type=int, default=32)
    un.add_argument("--flip", action="store_true", help="test-time flip: average the category probabilities of "
                    "the image and its mirror image")
    un.add_argument("--device", default="auto")
    un.add_argument("--json", action="store_true", help="print one JSON list, one object per image")

    st = sub.add_parser("study", help="human-evaluation studies")
    ssub = st.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    sc = ssub.add_parser("create", help="sample products, run each model, pool and shuffle the pairs")
    sc.add_argument("--name", required=True)
    sc.add_argument("--models", nargs="+", choices=[*METHODS, *(m + RERANKED_SUFFIX for m in METHODS)],
                    default=list(METHODS), help="served methods; NAME+outfit: NAME re-ranked by the outfit model")
    sc.add_argument("--n", type=int, default=120, help="query products (paper: 120)")
    sc.add_argument("--k", type=int, default=5, help="top K per query and model")
    sc.add_argument("--overlap", type=int, default=2, help="annotators per pair")
    sc.add_argument("--gold", type=int, default=10, help="gold pairs mixed in (known outfit-mates and clashes)")
    sc.add_argument("--seed", type=int, default=0)
    se = ssub.add_parser("export", help="the study as one tidy judgments.csv (one row per judgment) + design.json, "
                         "with summary, comparisons, annotators, adjudications and history CSVs")
    se.add_argument("--study", required=True, help="study name or id")
    se.add_argument("--out", type=Path, required=True)
    ssub.add_parser("list", help="list studies")
    cli_study.add_study_parsers(ssub)

    sn = sub.add_parser("scene", help="the scene-based CTL baseline (Kang et al. 2018) on masked collages")
    snsub = sn.add_subparsers(dest="scene_command", required=True, metavar="ACTION")
    snt = snsub.add_parser("train", help="train on masked-collage scenes (writes models/scene-based/)")
    snt.add_argument("--epochs", type=int, default=15)
    snt.add_argument("--max-scenes", type=int, default=4000, help="training scenes (each ~125 KB of cache)")
    snt.add_argument("--seed", type=int, default=0)
    snt.add_argument("--backbone", default=DEFAULT_BACKBONE)
    snt.add_argument("--device", default="auto")
    snsub.add_parser("evaluate", help="FITB and R@K of the scene model and its global-only/untrained baselines")
    snr = snsub.add_parser("recommend", help="products that complete a scene image (collage or outfit photo)")
    snr.add_argument("--image", type=Path, required=True)
    snr.add_argument("--k", type=int, default=5, help="products per category")
    snr.add_argument("--json", action="store_true", help="print one JSON object")

    b = sub.add_parser("bench", help="benchmark scripts (figures for the README)")
    bsub = b.add_subparsers(dest="bench_command", required=True, metavar="WHICH")
    bs = bsub.add_parser("serve", help="1M-item serving latency vs exact search")
    bs.add_argument("--n-items", type=int, default=1_000_000)
    bs.add_argument("--n-queries", type=int, default=1000)
    bs.add_argument("--k", type=int, default=10)
    bs.add_argument("--hnsw-threshold", type=int, default=20_000, help="categories this large get HNSW")
    bs.add_argument("--ef-search", type=int, default=64)
    bs.add_argument("--no-upload", action="store_true", help="skip the upload (featurize + serve) timing")
    bs.add_argument("--repeats", type=int, default=3, help="timed in turn this many times (median and range)")
    bf = bsub.add_parser("featurize", help="featurizing throughput vs the bare backbone")
    bf.add_argument("--n-images", type=int, default=256)
    bf.add_argument("--batch-size", type=int, default=32)
    bf.add_argument("--backbone", default=DEFAULT_BACKBONE)
    bf.add_argument("--workers", type=int, default=None, help="decode threads (default: one per core)")
    bf.add_argument("--repeats", type=int, default=3, help="timed in turn this many times (median and range)")
    bf.add_argument("--compile", action="store_true", help="torch.compile the backbone first")
    bc = bsub.add_parser("catalogue", help="catalogue inference: local engine vs Ray with 1 and 2 actors")
    bc.add_argument("--model", default="triplet-category", choices=METHODS)
    bc.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="Ray pool sizes to measure")
    bc.add_argument("--batch-size", type=int, default=32, help="Ray: images per forward pass")
    bc.add_argument("--n-images", type=int, default=None, help="cap each catalogue (default: all of it)")
    bc.add_argument("--images", type=Path, default=None,
                    help="also a folder of product photos, e.g. ../shared/real/mango/datathon/images")
    bc.add_argument("--repeats", type=int, default=3, help="rounds over the engines (median and range of each)")
    br = bsub.add_parser("rerank", help="the outfit model's re-ranking stage: its cost per query at the serving "
                         "benchmark's candidate sizes, and catalogue recommendations with and without it")
    br.add_argument("--model", default="triplet-category", choices=METHODS)
    br.add_argument("--n-queries", type=int, default=200)
    br.add_argument("--repeats", type=int, default=200, help="stage-only runs per setting")
    br.add_argument("--results", action="store_true",
                    help="also write docs/results/rerank_<workspace>.json|md (stamped; the README quotes it)")
    bo = bsub.add_parser("outfit", help="the outfit model's ablation on a validation split of the training outfits "
                         "(pairwise recipes, outfit model, re-ranking, fusion); never reads the test split")
    bo.add_argument("--seeds", type=int, nargs="+", default=[0])
    bo.add_argument("--epochs", type=int, default=None, help="outfit model epochs (default: its own, early-stopped)")
    bo.add_argument("--results", action="store_true",
                    help="also write docs/results/outfit_ablation_<workspace>.json|md (stamped; the README quotes it)")
    cli_report.add_report_parser(sub)
    cli_admin.add_users_parser(sub)
    cli_admin.add_db_parser(sub)
    return p


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine local|ray`` and the Ray job's options (``ctl_core.serving.engines.EngineConfig``)."""
    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: one process (default); ray: a Ray Data job on this machine or a cluster")
    g.add_argument("--address", default=None, help="ray: join this cluster (auto, HOST:6379, ray://HOST:10001); "
                   "default: start a local Ray instance")
    g.add_argument("--ray-actors", type=int, default=None, metavar="N",
                   help="ray: inference actors (default: one per GPU, else 2)")
    g.add_argument("--ray-batch-size", type=int, default=32, metavar="N", help="ray: images per forward pass")


def engine_config(args):
    """The ``EngineConfig`` that ``add_engine_args`` options describe."""
    from ctl_core.serving.engines import EngineConfig
    return EngineConfig(engine=args.engine, address=args.address, actors=args.ray_actors,
                        batch_size=args.ray_batch_size, device=getattr(args, "device", "auto"),
                        progress_bars=not args.quiet)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("ctl_core").setLevel(logging.INFO)
    ws = Workspace.at(args.workspace).ensure()
    progress = TqdmProgress(disable=args.quiet)
    try:
        return _COMMANDS[args.command](ws, args, progress) or 0
    except (ValueError, FileNotFoundError) as e:  # user-caused problems: one clear line, no stack trace
        progress.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        progress.close()


def _demo(ws, args, progress):
    from ctl_core.workflows.demo import DemoConfig, build_demo
    status = build_demo(ws, DemoConfig(size=args.size, seed=args.seed, methods=tuple(args.methods), force=args.force,
                                       evaluate=not args.no_evaluate, export=args.export, recipe=args.recipe,
                                       engine=engine_config(args)), progress=progress)
    print(f"demo workspace ready at {ws.root}" if status.ready else f"demo incomplete: {status}")


def _import(ws, args, progress):
    from ctl_core.data import importers
    if args.source == "outfits":
        report = importers.import_outfits(ws, args.folder, progress=progress, replace=args.replace)
    elif args.source == "ctl-tsv":
        report = importers.import_ctl_tsv(ws, args.tsv if len(args.tsv) > 1 else args.tsv[0], args.images,
                                         fitb=args.fitb, progress=progress, replace=args.replace)
    elif args.source == "polyvore":
        report = importers.import_polyvore(ws, args.root, variant=args.variant, replace=args.replace)
    else:
        report = importers.import_folder(ws, args.folder, csv=args.csv, purpose=args.purpose, replace=args.replace)
    print(report)
    if args.source != "folder":
        print("next: python -m ctl_core build   (cleanup, features, the methods, evaluation, indices)")


def _train_outfit(ws, args, progress):
    from ctl_core.training.outfit import OutfitTrainConfig, train_outfit
    overrides = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr)) if v is not None}
    run = train_outfit(ws, OutfitTrainConfig(seed=args.seed, **overrides), backbone_name=args.backbone,
                       progress=progress)
    print(f"trained {OUTFIT_METHOD}: {run}")


def _dataset(ws, args, progress):
    from ctl_core.data.dataset import CleanupConfig, build_dataset
    print(build_dataset(ws, CleanupConfig(seed=args.seed, test_fraction=args.test_fraction), progress=progress))


def _train(ws, args, progress):
    if args.method == OUTFIT_METHOD:
        return _train_outfit(ws, args, progress)
    from ctl_core.training import train as training
    from ctl_core.training.train import TrainConfig
    overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr))
                 if v is not None}
    if args.chunk_size is not None:
        overrides["chunk_size"] = args.chunk_size or None  # 0: the whole batch at once
    for key in ("metadata", "meta_dropout", "margin", "items_per_outfit", "negatives_per_positive",
                "trainable_stages", "warmup_epochs"):
        if getattr(args, key) is not None:
            overrides[key] = tuple(args.metadata) if key == "metadata" else getattr(args, key)
    config = TrainConfig(method=args.method, seed=args.seed, mode=args.mode, device=args.device, recipe=args.recipe,
                         **overrides)
    if args.validate:
        from ctl_core.training.validation import ValidationConfig, validate
        res = validate(ws, config, backbone_name=args.backbone, config_v=ValidationConfig(args.val_fraction),
                       progress=progress)
        shown = {k: res[k] for k in ("FITB", "n_fitb", "R@1", "R@5", "R@10", "R@10_cat", "n_queries",
                                     "n_fit_outfits", "n_val_outfits")}
        if "without_metadata" in res:
            shown["without_metadata"] = {k: res["without_metadata"][k] for k in ("FITB", "R@10", "R@10_cat")}
        print(json.dumps(shown, indent=2))
        return
    run = training.train(ws, config, backbone_name=args.backbone, progress=progress)
    print(f"trained {args.method}: {run}")


def _build(ws, args, progress):
    from ctl_core.workflows.build import BuildConfig, build_workspace
    build_workspace(ws, BuildConfig(methods=tuple(args.methods), backbone=args.backbone, seed=args.seed,
                                    force=args.force, evaluate=not args.no_evaluate, epochs=args.epochs,
                                    recipe=args.recipe, outfit_model=not args.no_outfit_model,
                                    engine=engine_config(args)),
                    progress=progress)
    print(f"workspace built: {ws.root}  (serve it: CTL_WORKSPACE={ws.root} make app)")


def _evaluate(ws, args, progress):
    from ctl_core import evaluation
    from ctl_core.workflows.build import store_offline_metrics
    if args.make_fitb is not None:
        questions = evaluation.make_fitb_questions(ws, seed=args.seed)
        print(f"written: {evaluation.write_fitb_file(questions, args.make_fitb)} ({len(questions)} questions, "
              f"seed {args.seed})")
        return
    if args.fitb is not None:
        results = evaluation.evaluate_fitb_file(ws, args.fitb, args.methods)
        if args.json:
            from ctl_core.io import to_jsonable
            print(json.dumps(to_jsonable({"file": str(args.fitb), "methods": results})))
        else:
            print(evaluation.format_fitb_results(results, args.fitb))
        return
    table = evaluation.evaluate_all(ws, args.methods, evaluation.EvalConfig(seed=args.seed), progress=progress)
    print(evaluation.format_table(table))
    store_offline_metrics(ws, table)
    print(f"written: {ws.eval_dir / 'table.csv'}")


def _index(ws, args, progress):
    from ctl_core.serving.engines import index_catalogue
    report, manifest = index_catalogue(ws, args.model, engine_config(args), progress=progress)
    progress.close()
    print(report)
    print(json.dumps({k: v for k, v in manifest.items() if k != "categories"}, indent=2, default=str))
    from ctl_core.serving.category_source import summary_line
    print(summary_line(ws, args.model, manifest))


def _export(ws, args, progress):
    from ctl_core.model.export import export_model
    print(f"exported: {export_model(ws, args.model)}")


def _recommend(ws, args, progress):
    from ctl_core.serving.recommender import BlendConfig, Recommender, RecommenderConfig, RerankConfig
    if not args.item and args.image is None:
        raise ValueError("give --item ID (repeat it for a partial outfit) or --image PATH")
    rec = Recommender(ws, args.model, device=args.device,
                      config=RecommenderConfig(on_non_product="refuse" if args.refuse_non_product else "warn"))
    blend = BlendConfig(price_weight=args.price_weight, diversity=args.diversity, dedupe=not args.show_duplicates)
    first, more = (None, args.item) if args.image is not None else (args.item[0], args.item[1:])
    out = rec.recommend(item_id=first, image=args.image, items=more, k=args.k, max_categories=args.max_categories,
                        blend=blend, rerank=RerankConfig(enabled=not args.no_rerank,
                                                         candidates=args.rerank_candidates))
    d = out.to_dict()
    if args.json:
        print(json.dumps(d, default=str))
        return
    q = d["query"]
    print(f"query: {q.get('item_id') or args.image}  category: {q['category']} ({q['confidence']:.0%})  "
          f"product shot: {q['product_shot_score']:.2f}")
    if len(q["outfit"]) > 1:
        print("outfit: " + ", ".join(f"{m['item_id'] or args.image} ({m['category']})" for m in q["outfit"]))
    print("re-ranked by the outfit model" if q["reranked"] else "pairwise distance only (no outfit re-ranking)")
    if q.get("warning"):
        print(f"warning: {q['warning']}")
    print("complementary: " + ", ".join(q["complementary"]))
    for i, r in enumerate(d["results"], 1):
        price = f"${r['price']:.2f}" if r.get("price") == r.get("price") and r.get("price") is not None else "-"
        print(f"{i:>3}. {r['item_id']:<12} {r['category']:<18} dist {r['distance']:.3f}  {price}")
    print("timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in d["timings_ms"].items()))


def _study(ws, args, progress):
    from ctl_core.workflows import study as study_flow
    from db import session, studies
    engine = session.make_engine(ws.db_url)
    session.init_db(engine)
    if args.study_command == "list":
        for s in studies.list_studies(engine):
            print(s)
        return
    if cli_study.handles(args):
        cli_study.run(ws, args, engine, progress)
        return
    if args.study_command == "export":
        from db.stats import export_csv
        for p in export_csv(engine, study_flow.resolve_study(engine, args.study), args.out):
            print(f"written: {p}")
        return
    study_id = study_flow.create_study_from_workspace(ws, engine, name=args.name, models=args.models, n=args.n,
                                                      k=args.k, overlap=args.overlap, n_gold=args.gold,
                                                      seed=args.seed, progress=progress, say=print)
    print(f"created study {args.name!r} (id {study_id})")


def _scene(ws, args, progress):
    from ctl_core.scene import SceneConfig, SceneRecommender, evaluate_scene_model, train_scene_model
    if args.scene_command == "recommend":
        out = SceneRecommender(ws).recommend(args.image, k=args.k)
        if args.json:
            print(json.dumps(out))
            return
        for cat, rows in out["per_category"].items():
            print(f"{cat}: " + ", ".join(f"{r['item_id']} ({r['distance']:.3f})" for r in rows))
        print("timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in out["timings_ms"].items()))
        return
    if args.scene_command == "train":
        config = SceneConfig(epochs=args.epochs, max_train_scenes=args.max_scenes, seed=args.seed,
                             backbone=args.backbone, device=args.device)
        print(f"trained scene-based: {train_scene_model(ws, config, progress=progress)}")
    else:
        print(json.dumps(evaluate_scene_model(ws, progress=progress), indent=2, default=str))


def _bench(ws, args, progress):
    if args.bench_command == "serve":
        from ctl_core.bench.serve import run_serve_bench
        res = run_serve_bench(n_items=args.n_items, n_queries=args.n_queries, k=args.k,
                              hnsw_threshold=args.hnsw_threshold, ef_search=args.ef_search, upload=not args.no_upload,
                              repeats=args.repeats, progress=progress)
    elif args.bench_command == "catalogue":
        from ctl_core.bench.catalogue import run_catalogue_bench
        res = run_catalogue_bench(ws, method=args.model, actors=args.actors, batch_size=args.batch_size,
                                  n_images=args.n_images, images=args.images, repeats=args.repeats)
    elif args.bench_command == "rerank":
        from ctl_core.bench.rerank import run_recommend_bench, run_rerank_bench
        stamp = _stamp()
        res = {"stage": run_rerank_bench(repeats=args.repeats)}
        if ws.manifest_path(args.model).exists():
            res["catalogue"] = run_recommend_bench(ws, args.model, n_queries=args.n_queries)
        if args.results:
            from ctl_core.bench.rerank import format_rerank
            _write_results(ws, "rerank", "Re-ranking cost (the outfit model's stage)", format_rerank(res), res, stamp)
    elif args.bench_command == "outfit":
        from ctl_core.bench.outfit import format_ablation, outfit_ablation
        stamp = _stamp()
        df = outfit_ablation(ws, seeds=args.seeds, epochs=args.epochs, progress=progress)
        if args.results:
            _write_results(ws, "outfit_ablation", "Outfit model ablation on the validation split",
                           format_ablation(df), {"rows": df.to_dict("records")}, stamp)
        print(format_ablation(df))
        return
    else:
        from ctl_core.bench.featurize import run_featurize_bench
        res = run_featurize_bench(ws, n_images=args.n_images, batch_size=args.batch_size, backbone=args.backbone,
                                  compile=args.compile, num_workers=args.workers, repeats=args.repeats)
    print(json.dumps(res, indent=2, default=str))


def _stamp():
    from ctl_core.workflows.results import Stamp
    return Stamp.now("python -m ctl_core " + " ".join(sys.argv[1:]))


def _write_results(ws, name: str, title: str, body: str, data: dict, stamp) -> None:
    """docs/results/<name>_<workspace>.json|md, stamped (ctl_core.workflows.results)."""
    from ctl_core.workflows.report import workspace_name
    from ctl_core.workflows.results import RESULTS_DIR, write_result
    print(f"written: {write_result(RESULTS_DIR, f'{name}_{workspace_name(ws)}', title, body, data, stamp.finish())}")


def _understand(ws, args, progress):
    from ctl_core.serving.adapter import ModelAdapter
    from ctl_core.serving.product_shot import ProductShotScorer
    from ctl_core.serving.understand import UnderstandConfig, understand_images
    config = UnderstandConfig(batch_size=args.batch_size, flip=args.flip)
    adapter = ModelAdapter.load(ws, args.model, args.device)
    scorer = ProductShotScorer.load(ws, adapter.backbone, fit=True, progress=progress)
    out = understand_images(adapter, args.paths, config, scorer)
    progress.close()
    if args.json:
        print(json.dumps([u.to_dict() for u in out]))
        return
    for u in out:
        if u.error:
            print(f"{u.path}: error: {u.error}")
            continue
        print(f"{u.path}: {u.category} ({u.confidence:.0%})  product shot {u.product_shot_score:.2f}"
              + (f"  warning: {u.warning}" if u.warning else ""))


_COMMANDS = {"demo": _demo, "build": _build, "import": _import, "dataset": _dataset, "train": _train,
             "evaluate": _evaluate, "index": _index, "export": _export, "recommend": _recommend, "study": _study,
             "scene": _scene, "bench": _bench, "users": cli_admin.run_users, "db": cli_admin.run_db,
             "understand": _understand, "report": cli_report.run_report}
