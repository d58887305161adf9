"""Typed configuration: where generated data lives, and the defaults every stage starts from.

Everything generated (demo universe, dataset tables, cached features, models, indices, the SQLite file)
lives under one workspace folder. Its location is one setting: ``--workspace`` on the CLI, else the
``CTL_WORKSPACE`` environment variable, else ``./workspace`` beside the source tree.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKSPACE = PROJECT_ROOT / "workspace"

METHODS: tuple[str, ...] = (
    "classification", "siamese-16to1", "siamese-1to1", "triplet-random", "triplet-category",
)
DEFAULT_BACKBONE = "efficientnet-lite0"
SCENE_METHOD = "scene-based"
OUTFIT_METHOD = "outfit-transformer"  # the set model over whole outfits (ctl_core.model.outfit); not a Table-4 method
RERANKED_SUFFIX = "+outfit"  # "triplet-category+outfit": that method's ranking re-ordered by the outfit model
RERANK_CANDIDATES = 50  # ANN candidates per category the outfit model re-orders (serving.rerank.RerankConfig)
RERANK_PAIRWISE_WEIGHT = 0.5  # weight of the pairwise distance in the re-ranking's fused score (chosen on validation)

# File names inside the workspace: these constants are their only spelling; everyone else asks ``Workspace``.
HEADS_FILE = "heads.pt"
BACKBONE_FILE = "backbone.pt"
RUN_CONFIG_FILE = "config.json"
CURVES_FILE = "curves.csv"
METRICS_FILE = "metrics.json"
EXPORT_FILE = "model.ts"
FEATURES_FILE = "features.npy"
FEATURE_KEYS_FILE = "keys.csv"
PREDICTIONS_FILE = "predictions.csv"
EMBEDDINGS_FILE = "embeddings.npy"
INFERENCE_META_FILE = "meta.json"
MANIFEST_FILE = "manifest.json"
TABLE_CSV_FILE = "table.csv"
TABLE_JSON_FILE = "table.json"
PRODUCT_SHOT_DIR = "product-shot"  # models/product-shot/: the person detector of the product-shot check
PERSON_DETECTOR_FILE = "person.json"
OUTFIT_WEIGHTS_FILE = "outfit.pt"  # not heads.pt: the outfit model is not a CTLHeads run
OUTFIT_KEYS_FILE = "outfit_keys.npy"  # catalogue/<outfit>/: each product's candidate vector
OUTFIT_TOKENS_FILE = "outfit_tokens.npy"  # ... and its item token (query side)
SCENE_WEIGHTS_FILE = "scene.pt"  # not heads.pt: the scene-based run is not a CTLHeads run


def default_workspace() -> Path:
    """The workspace setting: ``CTL_WORKSPACE`` if set, else ``<project>/workspace``."""
    return Path(os.environ.get("CTL_WORKSPACE", DEFAULT_WORKSPACE)).expanduser().resolve()


@dataclass(frozen=True)
class Workspace:
    """Paths inside the workspace folder. Nothing here creates files; ``ensure()`` makes the folders.

    Layout (every stage reads and writes only its own part):
      universe/            demo generator output: products/*.png, collages/*.jpg, scenes/*.jpg
      data/catalogue.csv   products a user can query and be served (see ctl_core.data.tables)
      data/category_examples.csv  labelled photos that only teach the category head (never served)
      data/raw_boxes.csv   collage boxes before cleanup (one row per box)
      data/items.csv       cleaned outfit items with split (one row per item occurrence)
      data/*_report.json   cleanup / import reports
      features/<backbone>/ cached backbone features (features.npy, keys.csv)
      models/<method>/     one training run: heads.pt, config.json, curves.csv, metrics.json, model.ts
      catalogue/<method>/  catalogue inference: embeddings.npy, predictions.csv
      indices/<method>/    one FAISS index per category + manifest.json
      eval/                Table-4 results (table.csv, table.json)
      ctl.sqlite           human-evaluation database
    """

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike | None = None) -> "Workspace":
        return cls(Path(root).expanduser().resolve() if root is not None else default_workspace())

    @property
    def universe_dir(self) -> Path:
        return self.root / "universe"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def catalogue_csv(self) -> Path:
        return self.data_dir / "catalogue.csv"

    @property
    def category_examples_csv(self) -> Path:
        """Labelled product photos that only teach the category head (``import folder --purpose categories``):
        catalogue.csv's columns, never served, indexed or put in a study."""
        return self.data_dir / "category_examples.csv"

    @property
    def raw_boxes_csv(self) -> Path:
        return self.data_dir / "raw_boxes.csv"

    @property
    def items_csv(self) -> Path:
        return self.data_dir / "items.csv"

    @property
    def fitb_json(self) -> Path:
        """Imported fill-in-the-blank questions (CTL release or Polyvore), normalised to our item ids."""
        return self.data_dir / "fitb.json"

    def features_dir(self, backbone: str) -> Path:
        return self.root / "features" / backbone

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def model_dir(self, method: str) -> Path:
        return self.models_dir / method

    def trained_methods(self) -> list[str]:
        """Run folders holding a trained CTL model (heads.pt): the paper's methods first, then others by name."""
        found = sorted(p.parent.name for p in self.models_dir.glob(f"*/{HEADS_FILE}"))
        return [m for m in METHODS if m in found] + [m for m in found if m not in METHODS]

    def heads_path(self, method: str) -> Path:
        return self.model_dir(method) / HEADS_FILE

    def run_config_path(self, method: str) -> Path:
        return self.model_dir(method) / RUN_CONFIG_FILE

    def metrics_path(self, method: str) -> Path:
        return self.model_dir(method) / METRICS_FILE

    @property
    def person_detector_path(self) -> Path:
        """The product-shot check's person detector (ctl_core.serving.product_shot)."""
        return self.models_dir / PRODUCT_SHOT_DIR / PERSON_DETECTOR_FILE

    @property
    def outfit_weights_path(self) -> Path:
        return self.model_dir(OUTFIT_METHOD) / OUTFIT_WEIGHTS_FILE

    @property
    def scene_weights_path(self) -> Path:
        return self.model_dir(SCENE_METHOD) / SCENE_WEIGHTS_FILE

    def export_path(self, method: str) -> Path:
        return self.model_dir(method) / EXPORT_FILE

    def features_npy(self, backbone: str) -> Path:
        return self.features_dir(backbone) / FEATURES_FILE

    def predictions_csv(self, method: str) -> Path:
        return self.catalogue_dir(method) / PREDICTIONS_FILE

    def embeddings_npy(self, method: str) -> Path:
        return self.catalogue_dir(method) / EMBEDDINGS_FILE

    def manifest_path(self, method: str) -> Path:
        return self.index_dir(method) / MANIFEST_FILE

    @property
    def eval_table_csv(self) -> Path:
        return self.eval_dir / TABLE_CSV_FILE

    @property
    def eval_table_json(self) -> Path:
        return self.eval_dir / TABLE_JSON_FILE

    def catalogue_dir(self, method: str) -> Path:
        return self.root / "catalogue" / method

    def index_dir(self, method: str) -> Path:
        return self.root / "indices" / method

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    @property
    def db_path(self) -> Path:
        return self.root / "ctl.sqlite"

    @property
    def db_url(self) -> str:
        """SQLAlchemy URL of the human-evaluation database: ``CTL_DB_URL`` if set, else SQLite here."""
        return os.environ.get("CTL_DB_URL", f"sqlite:///{self.db_path}")

    def rel(self, path: Path) -> str:
        """``path`` relative to the workspace root, as stored in tables (posix separators)."""
        return Path(path).resolve().relative_to(self.root).as_posix()

    def abs(self, rel_path: str) -> Path:
        """Absolute path of a path stored in a table (relative to the root, or already absolute)."""
        p = Path(rel_path)
        return p if p.is_absolute() else self.root / p

    def ensure(self) -> "Workspace":
        for d in (self.root, self.data_dir, self.eval_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
