"""The demo build: every stage from the synthetic universe to the per-category indices, each skipped when its
output is already there (``force`` rebuilds). The CLI's ``demo`` command and the app's first-start button call it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from ctl_core import evaluation
from ctl_core.config import DEFAULT_BACKBONE, METHODS, Workspace
from ctl_core.data import dataset, universe
from ctl_core.data.tables import read_catalogue, read_items
from ctl_core.model.backbone import create_backbone
from ctl_core.model.export import export_model
from ctl_core.model.features import cached_features, item_sources
from ctl_core.progress import Progress
from ctl_core.serving import catalogue, index
from ctl_core.training import train as training
from db.session import init_db, make_engine
from db.stats import save_offline_metrics


@dataclass(frozen=True)
class DemoConfig:
    size: int = 3000
    seed: int = 0
    methods: tuple[str, ...] = METHODS
    backbone: str = DEFAULT_BACKBONE
    force: bool = False
    evaluate: bool = True
    export: bool = False
    epochs: int | None = None  # None: each method's default; tests use 1-2


@dataclass
class DemoStatus:
    """What exists in a workspace, stage by stage (the app's home page shows it)."""

    universe: bool
    dataset: bool
    features: bool
    models: dict[str, bool] = field(default_factory=dict)
    indices: dict[str, bool] = field(default_factory=dict)
    evaluation: bool = False

    @property
    def ready(self) -> bool:
        return self.dataset and any(self.indices.values())


def demo_status(ws: Workspace, methods: tuple[str, ...] = METHODS, backbone: str = DEFAULT_BACKBONE) -> DemoStatus:
    return DemoStatus(
        universe=ws.catalogue_csv.exists(),
        dataset=ws.items_csv.exists(),
        features=ws.features_npy(backbone).exists(),
        models={m: ws.heads_path(m).exists() for m in methods},
        indices={m: ws.manifest_path(m).exists() for m in methods},
        evaluation=ws.eval_table_csv.exists(),
    )


def build_demo(ws: Workspace, config: DemoConfig = DemoConfig(), progress: Progress | None = None,
               say: Callable[[str], None] = print) -> DemoStatus:
    """Build (or complete) the demo workspace. Returns the final status."""
    ws.ensure()
    status = demo_status(ws, config.methods, config.backbone)
    if config.force or not status.universe:
        say(f"[1/6] demo universe: {config.size} outfits (seed {config.seed})")
        counts = universe.generate_universe(ws, universe.UniverseConfig(size=config.size, seed=config.seed),
                                            progress=progress)
        say("      " + ", ".join(f"{k}={v}" for k, v in counts.items() if not isinstance(v, dict)))
    else:
        say("[1/6] demo universe: already there")
    if config.force or not status.dataset or not status.universe:
        say("[2/6] dataset cleanup and split")
        report = dataset.build_dataset(ws, dataset.CleanupConfig(seed=config.seed), progress=progress)
        say(str(report))
    else:
        say("[2/6] dataset: already there")
    say("[3/6] backbone features (cached; only new images are computed)")
    featurize_items(ws, config.backbone, progress)
    for m in config.methods:
        if config.force or not ws.heads_path(m).exists():
            say(f"[4/6] training {m}")
            extra = {"epochs": config.epochs} if config.epochs is not None else {}
            training.train(ws, training.TrainConfig(method=m, seed=config.seed, **extra),
                           backbone_name=config.backbone, progress=progress)
        else:
            say(f"[4/6] model {m}: already trained")
    if config.evaluate and (config.force or not ws.eval_table_csv.exists()):
        say("[5/6] offline evaluation (Table 4)")
        table = evaluation.evaluate_all(ws, list(config.methods), progress=progress)
        say(evaluation.format_table(table))
        store_offline_metrics(ws, table)
    for m in config.methods:
        if config.force or not ws.manifest_path(m).exists():
            say(f"[6/6] catalogue inference and per-category indices for {m}")
            catalogue.infer_catalogue(ws, m, progress=progress)
            index.build_indices(ws, m, progress=progress)
        else:
            say(f"[6/6] indices {m}: already built")
        if config.export and not ws.export_path(m).exists():
            export_model(ws, m)
    return demo_status(ws, config.methods, config.backbone)


def featurize_items(ws: Workspace, backbone_name: str = DEFAULT_BACKBONE, progress: Progress | None = None):
    """Backbone features for every dataset item and catalogue product (one shared cache)."""
    backbone = create_backbone(backbone_name, pretrained=True)
    sources = item_sources(read_items(ws.items_csv))
    if ws.catalogue_csv.exists():
        sources += [(p, None) for p in read_catalogue(ws.catalogue_csv)["image_path"]]
    return cached_features(ws, backbone, sources, progress=progress)


def store_offline_metrics(ws: Workspace, table: pd.DataFrame) -> None:
    """Offline metrics go to the database too, so the app can chart them beside human precision."""
    engine = make_engine(ws.db_url)
    init_db(engine)
    save_offline_metrics(engine, table)
