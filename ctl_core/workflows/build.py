"""The build after the data is in: dataset -> features -> the methods -> evaluation -> indices, each step timed.

``build_workspace`` is the CLI's ``build`` command (run it after an import) and the part of the demo build that
follows the synthetic universe (``workflows.demo`` calls it). A step runs when its output is missing or older
than what it is made from (as ``make`` decides), else it says "already there"; ``force`` runs every step:

  dataset   data/items.csv        from data/raw_boxes.csv (the import or the universe)
  features  features/<backbone>/  every item and catalogue product (a cache: only new images are computed)
  train     models/<m>/heads.pt   from data/items.csv
  outfit    models/outfit-transformer/outfit.pt   the outfit model (set transformer), from data/items.csv
  evaluate  eval/table.csv        from data/items.csv and every run's heads.pt
  index     indices/<m>/          from the run's heads.pt and data/catalogue.csv

The wall time of each step goes to ``data/build_report.json`` and is printed.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ctl_core import evaluation
from ctl_core.config import DEFAULT_BACKBONE, METHODS, OUTFIT_METHOD, Workspace
from ctl_core.data import dataset
from ctl_core.data.tables import read_catalogue, read_items
from ctl_core.io import atomic_write_json
from ctl_core.model.backbone import create_backbone
from ctl_core.model.export import export_model
from ctl_core.model.features import item_sources
from ctl_core.progress import Progress
from ctl_core.resources import peak_rss_mb
from ctl_core.serving import category_source, engines
from ctl_core.serving.product_shot import fit_person_detector
from ctl_core.threads import torch_threads
from ctl_core.training import train as training
from ctl_core.training.outfit import OutfitTrainConfig
from ctl_core.training.outfit import train_outfit as train_outfit_model
from ctl_core.training.recipes import DEFAULT_RECIPE
from db.session import init_db, make_engine
from db.stats import save_offline_metrics

BUILD_REPORT_NAME = "build_report.json"


class BuildError(ValueError):
    """A workspace that cannot be built (nothing imported yet); the message says what to run first."""


@dataclass(frozen=True)
class BuildConfig:
    """What ``build_workspace`` builds. ``cleanup`` None: the default rules with ``seed``."""

    methods: tuple[str, ...] = METHODS
    backbone: str = DEFAULT_BACKBONE
    seed: int = 0
    force: bool = False
    evaluate: bool = True
    export: bool = False
    epochs: int | None = None                  # None: the recipe's for each method; tests use 1-2
    recipe: str = DEFAULT_RECIPE               # training.recipes: "validated" (default) or "paper"
    outfit_model: bool = True                  # also train the outfit model (re-ranking, partial outfits)
    cleanup: dataset.CleanupConfig | None = None
    engine: engines.EngineConfig = engines.EngineConfig()  # where features, catalogue inference and indices run


@dataclass
class BuildReport:
    """Which steps ran and how long each took (seconds of wall time), in order."""

    steps: list[dict] = field(default_factory=list)   # {"step", "seconds", "ran", "detail"}
    started_at: str = ""

    def add(self, step: str, seconds: float, ran: bool, detail: str = "") -> None:
        self.steps.append({"step": step, "seconds": round(seconds, 2), "ran": ran, "detail": detail})

    @property
    def total_seconds(self) -> float:
        return round(sum(s["seconds"] for s in self.steps), 2)

    def __str__(self) -> str:
        w = max((len(s["step"]) for s in self.steps), default=4)
        lines = ["build: wall time per step"]
        lines += [f"  {s['step']:<{w}}  {s['seconds']:>8.1f} s" + ("" if s["ran"] else "  (already there)")
                  for s in self.steps]
        lines.append(f"  {'total':<{w}}  {self.total_seconds:>8.1f} s")
        return "\n".join(lines)


def _process_figures() -> dict:
    """The build process's peak resident memory and torch's thread count, for the build report."""
    out = {"peak_rss_mb": round(peak_rss_mb(), 1), "torch_threads": torch_threads()}
    return {k: v for k, v in out.items() if v is not None and v == v}  # not measurable here: left out


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def stale(output: Path, *inputs: Path) -> bool:
    """True when ``output`` is missing or older than any existing ``inputs``."""
    out = _mtime(output)
    return out is None or any((t := _mtime(p)) is not None and t > out for p in inputs)


def build_workspace(ws: Workspace, config: BuildConfig = BuildConfig(), progress: Progress | None = None,
                    say: Callable[[str], None] = print, first_step: int = 1, total_steps: int = 5) -> BuildReport:
    """Dataset, features, the methods, evaluation and indices on a workspace holding imported (or demo) data.

    ``first_step``/``total_steps`` number the printed steps (the demo build puts its universe first).
    """
    if not ws.raw_boxes_csv.exists():
        raise BuildError(f"{ws.raw_boxes_csv} does not exist: import outfits first "
                         "(python -m ctl_core import outfits DIR), or build the demo (python -m ctl_core demo)")
    ws.ensure()
    report = BuildReport(started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    last = first_step + total_steps - 1

    def step(stage: int, name: str, needed: bool, run: Callable[[], str | None], what: str) -> None:
        """Run one step when ``needed`` (timed, recorded), else say it is already there."""
        tag = f"[{first_step + stage}/{last}] {what}"
        if not needed:
            say(f"{tag}: already there")
            report.add(name, 0.0, False)
            return
        say(tag)
        t = time.perf_counter()
        detail = run() or ""
        report.add(name, time.perf_counter() - t, True, detail)
        say(f"      {report.steps[-1]['seconds']:.1f} s")

    cleanup = config.cleanup or dataset.CleanupConfig(seed=config.seed)

    def clean() -> str:
        rep = dataset.build_dataset(ws, cleanup, progress=progress)
        say(str(rep))
        return f"{rep.outfits_out} outfits, {rep.items_out} items"

    step(0, "dataset", config.force or stale(ws.items_csv, ws.raw_boxes_csv), clean, "dataset cleanup and split")
    with engines.engine_session(config.engine):  # one Ray session for every Ray stage of the build
        _model_steps(ws, config, progress, say, step)
    atomic_write_json(ws.data_dir / BUILD_REPORT_NAME, {**asdict(report), "total_seconds": report.total_seconds,
                                                        **_process_figures()})
    say(str(report))
    return report


def _model_steps(ws: Workspace, config: BuildConfig, progress: Progress | None, say: Callable[[str], None],
                 step: Callable) -> None:
    def features() -> None:
        featurize_items(ws, config.backbone, progress, engine=config.engine)

    step(1, "features", True, features, "backbone features (cached; only new images are computed)")

    def person_detector() -> str:
        det = fit_person_detector(ws, create_backbone(config.backbone, pretrained=True), progress)
        return "" if det is None else f"{det.counts['positives']} worn photos, {det.counts['negatives']} product shots"

    if ws.category_examples_csv.exists():  # labelled photos: the product-shot check learns what a worn garment is
        step(1, "person detector", config.force or stale(ws.person_detector_path, ws.catalogue_csv,
                                                         ws.category_examples_csv),
             person_detector, "person detector of the product-shot check")
    extra = {"epochs": config.epochs} if config.epochs is not None else {}
    for m in config.methods:
        def train(m: str = m) -> str:
            run = training.train(ws, training.TrainConfig(method=m, seed=config.seed, recipe=config.recipe, **extra),
                                 backbone_name=config.backbone, progress=progress)
            return str(run)

        retrain = (config.force or stale(ws.heads_path(m), ws.items_csv, ws.category_examples_csv)
                   or trained_recipe(ws, m) != config.recipe)
        step(2, f"train {m}", retrain, train, f"training {m} ({config.recipe} recipe)")
    if config.outfit_model:
        def train_outfit() -> str:
            run = train_outfit_model(ws, OutfitTrainConfig(seed=config.seed, **extra), backbone_name=config.backbone,
                                     progress=progress)
            return str(run)

        step(2, "train outfit model", config.force or stale(ws.outfit_weights_path, ws.items_csv), train_outfit,
             "training the outfit model (set transformer over whole outfits; early-stopped on a validation split)")
    if config.evaluate:
        def run_eval() -> str:
            extra_rows = [OUTFIT_METHOD] if config.outfit_model and ws.outfit_weights_path.exists() else []
            table = evaluation.evaluate_all(ws, [*config.methods, *extra_rows], progress=progress)
            say(evaluation.format_table(table))
            store_offline_metrics(ws, table)
            return f"{len(table)} rows"

        heads = [ws.heads_path(m) for m in config.methods] + ([ws.outfit_weights_path] if config.outfit_model else [])
        step(3, "evaluate", config.force or stale(ws.eval_table_csv, ws.items_csv, *heads), run_eval,
             "offline evaluation (Table 4)")
    for m in config.methods:
        def run_index(m: str = m) -> str:
            _, manifest = engines.index_catalogue(ws, m, config.engine, progress=progress)
            say(line := category_source.summary_line(ws, m, manifest))
            return line

        step(4, f"index {m}", config.force or stale(ws.manifest_path(m), ws.heads_path(m), ws.catalogue_csv,
                                                    ws.person_detector_path),
             run_index, f"catalogue inference and per-category indices for {m}")
        if config.export and not ws.export_path(m).exists():
            export_model(ws, m)


def trained_recipe(ws: Workspace, method: str) -> str | None:
    """The recipe a trained run used (its config.json; runs from before recipes existed used the paper's)."""
    try:
        return json.loads(ws.run_config_path(method).read_text()).get("train", {}).get("recipe", "paper")
    except (OSError, ValueError):
        return None


def featurize_items(ws: Workspace, backbone_name: str = DEFAULT_BACKBONE, progress: Progress | None = None,
                    engine: engines.EngineConfig | str | None = None):
    """Backbone features for every dataset item and catalogue product (one shared cache), computed on ``engine``."""
    backbone = create_backbone(backbone_name, pretrained=True)
    sources = item_sources(read_items(ws.items_csv))
    if ws.catalogue_csv.exists():
        sources += [(p, None) for p in read_catalogue(ws.catalogue_csv)["image_path"]]
    return engines.cached_features_engine(ws, backbone, sources, engine, progress=progress)


def store_offline_metrics(ws: Workspace, table: pd.DataFrame) -> None:
    """Offline metrics go to the database too, so the app can chart them beside human precision."""
    engine = make_engine(ws.db_url)
    init_db(engine)
    save_offline_metrics(engine, table)
