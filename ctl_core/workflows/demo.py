"""The demo build: the synthetic universe, then ``workflows.build`` (dataset, features, the methods, evaluation,
indices), each step skipped when its output is already there and up to date (``force`` rebuilds). The CLI's
``demo`` command and the app's first-start button call it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ctl_core.config import DEFAULT_BACKBONE, METHODS, Workspace
from ctl_core.data import dataset, universe
from ctl_core.progress import Progress
from ctl_core.serving import engines
from ctl_core.training.recipes import DEFAULT_RECIPE
from ctl_core.workflows.build import BuildConfig, BuildReport, build_workspace
from ctl_core.workflows.build import featurize_items as featurize_items  # re-exported for older callers
from ctl_core.workflows.build import store_offline_metrics as store_offline_metrics  # re-exported


@dataclass(frozen=True)
class DemoConfig:
    size: int = 3000
    seed: int = 0
    methods: tuple[str, ...] = METHODS
    backbone: str = DEFAULT_BACKBONE
    force: bool = False
    evaluate: bool = True
    export: bool = False
    epochs: int | None = None  # None: the recipe's for each method; tests use 1-2
    recipe: str = DEFAULT_RECIPE  # training.recipes: "validated" (default) or "paper" (the paper's Table 4)
    engine: engines.EngineConfig = engines.EngineConfig()  # where features, catalogue inference and indices run


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
    build_workspace(ws, demo_build_config(config), progress=progress, say=say, first_step=2, total_steps=5)
    return demo_status(ws, config.methods, config.backbone)


def demo_build_config(config: DemoConfig) -> BuildConfig:
    """The build steps of a demo: the paper's cleanup rules with the demo's seed, and the demo's choices."""
    return BuildConfig(methods=config.methods, backbone=config.backbone, seed=config.seed, force=config.force,
                       evaluate=config.evaluate, export=config.export, epochs=config.epochs, recipe=config.recipe,
                       cleanup=dataset.CleanupConfig(seed=config.seed), engine=config.engine)


__all__ = ["BuildReport", "DemoConfig", "DemoStatus", "build_demo", "demo_build_config", "demo_status",
           "featurize_items", "store_offline_metrics"]
