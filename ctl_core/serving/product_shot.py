"""The product-shot check (paper sec. 3: only product shots are served): border cue and "no person wears it".

``ctl_core.images.product_shot_score`` measures a light, uniform border. That misses the commonest non-product
shot of a real shop: a garment worn by a model photographed on a white studio background (fashion-product-images:
the border is white except where the body leaves the frame). ``ProductShotScorer`` scores ``min(border score,
1 - p(person))`` (``combine``: a product shot must pass both tests), where ``p(person)`` comes from a small person
detector: a logistic regression on the backbone's pooled features (``PersonDetector``; weights from nothing but the
backbone package and the workspace). The minimum, not the product: ``border x (1 - p)`` refused a shot with a
good border (0.8) and a middling p(person) (0.4), 62 of Mango's 8,852 shots instead of 19, for the same worn
photos caught (README, "The shop's own categories...").

Training the detector needs no hand labels (``fit_person_detector``): in a workspace holding category examples
(``import folder --purpose categories``, ctl_core.training.category_examples) the positives are the training
examples that show a person by a fixed image rule — the foreground leaves the frame at the top or bottom while
the left and right borders stay clean, and skin-coloured pixels make up part of it (``worn_by_person``) — and
the negatives are the catalogue's known product shots (``is_product_shot`` true: every Mango product, every demo
product) plus the examples the rule does not flag. The rule alone also flags long garments cut by the frame on
plain shots (Mango trousers); the detector learns from the catalogue that those are product shots.
It is stored in ``ws.person_detector_path`` with the backbone fingerprint and the input tables' stamps, and
refitted when either changes. A workspace without category examples has no detector: the score is then the
border score alone, as before.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.images import ImageError, load_image, product_shot_score
from ctl_core.io import atomic_write_json, file_stamp
from ctl_core.model.backbone import Backbone
from ctl_core.model.features import cached_features
from ctl_core.progress import Progress

MAX_NEGATIVES = 4000  # catalogue product shots sampled as negatives (seeded)
_SIDE, _CLOSE = 3, 24  # border strip (px at 48x64) and colour distance (0-255) counted as background


def _cues(img: Image.Image) -> tuple[float, float, float]:
    """(cleanest of top/bottom border, least clean of left/right border, skin share of the foreground)."""
    a = np.asarray(img.convert("RGB").resize((48, 64)), dtype=np.float32)
    sides = [a[:_SIDE], a[-_SIDE:], a[:, :_SIDE], a[:, -_SIDE:]]
    med = np.median(np.concatenate([s.reshape(-1, 3) for s in sides]), axis=0)
    clean = [float((np.abs(s.reshape(-1, 3) - med).max(axis=1) < _CLOSE).mean()) for s in sides]
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    fg = np.abs(a - med).max(axis=2) >= _CLOSE
    skin = (r > 95) & (g > 40) & (b > 20) & (a.max(2) - a.min(2) > 15) & (np.abs(r - g) > 15) & (r > g) & (r > b)
    return min(clean[0], clean[1]), min(clean[2], clean[3]), float((skin & fg).sum() / max(int(fg.sum()), 1))


def worn_by_person(img: Image.Image) -> bool:
    """The image rule behind the detector's positives: body leaves the frame top/bottom, sides clean, some skin."""
    top_bottom, left_right, skin = _cues(img)
    return top_bottom < 0.97 and left_right > 0.9 and skin > 0.02


@dataclass(frozen=True)
class PersonDetector:
    """p(person) = sigmoid(((feats - mean) / scale) @ coef + intercept) over one backbone's pooled features."""

    backbone_fingerprint: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    stamps: dict
    counts: dict

    def probability(self, feats: np.ndarray) -> np.ndarray:
        z = ((np.asarray(feats, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def to_dict(self) -> dict:
        return {"backbone_fingerprint": self.backbone_fingerprint, "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist(), "intercept": self.intercept,
                "stamps": self.stamps, "counts": self.counts}

    @classmethod
    def from_dict(cls, d: dict) -> "PersonDetector":
        return cls(str(d["backbone_fingerprint"]), np.asarray(d["mean"], float), np.asarray(d["scale"], float),
                   np.asarray(d["coef"], float), float(d["intercept"]), dict(d["stamps"]), dict(d.get("counts", {})))


def _input_stamps(ws: Workspace) -> dict:
    return {"catalogue": file_stamp(ws.catalogue_csv), "category_examples": file_stamp(ws.category_examples_csv)}


def load_person_detector(ws: Workspace, backbone: Backbone) -> PersonDetector | None:
    """The stored detector when it was fitted for this backbone on the current tables, else None."""
    path = ws.person_detector_path
    if not path.is_file():
        return None
    try:
        det = PersonDetector.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if det.backbone_fingerprint != backbone.fingerprint or det.stamps != _input_stamps(ws):
        return None
    return det


def fit_person_detector(ws: Workspace, backbone: Backbone, progress: Progress | None = None,
                        seed: int = 0, exclude_negatives: set | frozenset = frozenset(),
                        store: bool = True) -> PersonDetector | None:
    """Fit and store the detector (see the module docstring); None when the workspace lacks positives or negatives.

    ``exclude_negatives`` (product ids) and ``store=False``: a detector for measuring (``ctl_core.bench``), which
    never saw those shots and is not written."""
    from sklearn.linear_model import LogisticRegression  # only here: start-up time of the CLI

    from ctl_core.data.tables import read_catalogue
    from ctl_core.training.category_examples import is_held_out, read_category_examples

    ex = read_category_examples(ws)
    ex = ex[~is_held_out(ex["product_id"])].reset_index(drop=True)
    if ex.empty or not ws.catalogue_csv.exists():
        return None
    cat = read_catalogue(ws.catalogue_csv)
    shots = cat[(cat["is_product_shot"].astype(str).str.lower() == "true") & ~cat["product_id"].isin(exclude_negatives)]
    shots = shots.sample(n=min(MAX_NEGATIVES, len(shots)), random_state=seed) if len(shots) else shots
    labels = []
    for i, path in enumerate(ex["image_path"]):
        try:
            labels.append(worn_by_person(load_image(ws.abs(path))))
        except ImageError:
            labels.append(False)
        if progress and ((i + 1) % 500 == 0 or i + 1 == len(ex)):
            progress("person rule", i + 1, len(ex))
    y_ex = np.array(labels, dtype=bool)
    if not y_ex.any() or not len(shots):
        return None
    sources = [(p, None) for p in list(ex["image_path"]) + list(shots["image_path"])]
    feats, bad = cached_features(ws, backbone, sources, progress=progress, skip_bad=True)
    y = np.concatenate([y_ex, np.zeros(len(shots), bool)])
    X, y = feats[~bad].astype(np.float64), y[~bad]
    mean, scale = X.mean(0), X.std(0) + 1e-6
    clf = LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced", random_state=seed)
    clf.fit((X - mean) / scale, y)
    det = PersonDetector(backbone.fingerprint, mean, scale, clf.coef_[0], float(clf.intercept_[0]),
                         _input_stamps(ws), {"positives": int(y.sum()), "negatives": int((~y).sum())})
    if store:
        atomic_write_json(ws.person_detector_path, det.to_dict(), indent=None)
    return det


def import_flag(value) -> bool | None:
    """A catalogue row's ``is_product_shot`` as the import wrote it: True, False, or None (the source does not say)."""
    v = str(value).strip().lower()
    return True if v in ("true", "1", "yes") else False if v in ("false", "0", "no") else None


def served_as_product_shot(scores: np.ndarray, flags: Sequence[bool | None], threshold: float) -> np.ndarray:
    """Which catalogue products are served as product shots: the import's flag where it gives one, else the score.

    A shop's product table says what its photos are (``catalogue.csv``'s ``is_product_shot``: the outfit importer
    marks every row of a product table, the demo universe knows each image); the score is a heuristic that misreads
    white garments on a light backdrop. So the check decides only where the source is silent (image folders) and
    for uploads, which have no flag.
    """
    scores = np.asarray(scores, dtype=float)
    known = np.array([f is not None for f in flags], dtype=bool)
    flag = np.array([bool(f) for f in flags], dtype=bool)
    return np.where(known, flag, scores >= threshold)


def combine(border: np.ndarray, p_person: np.ndarray) -> np.ndarray:
    """The product-shot score from its two tests: ``min(border, 1 - p(person))`` (below the threshold when either
    fails)."""
    return np.minimum(np.asarray(border), 1.0 - np.asarray(p_person))


class ProductShotScorer:
    """score = min(border score (``images.product_shot_score``), 1 - p(person)) (``combine``); the border score
    alone without a detector."""

    def __init__(self, detector: PersonDetector | None = None):
        self.detector = detector

    @classmethod
    def load(cls, ws: Workspace, backbone: Backbone | None, fit: bool = False,
             progress: Progress | None = None) -> "ProductShotScorer":
        """The workspace's detector for ``backbone`` (fitted first when ``fit`` and it is missing or stale)."""
        if backbone is None:
            return cls()
        det = load_person_detector(ws, backbone)
        if det is None and fit:
            det = fit_person_detector(ws, backbone, progress)
        return cls(det)

    @property
    def fingerprint(self) -> str | None:
        """Identifies the detector (None without one): catalogue inference records it and recomputes on change."""
        if self.detector is None:
            return None
        return hashlib.sha256(json.dumps(self.detector.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def person_probability(self, feats: np.ndarray) -> np.ndarray:
        """p(person) per row of backbone features (zeros without a detector)."""
        if self.detector is None or not len(feats):
            return np.zeros(len(feats))
        return self.detector.probability(feats)

    def score(self, images: Sequence[Image.Image], feats: np.ndarray) -> np.ndarray:
        """Product-shot scores in [0, 1] of ``images`` (RGB) with their backbone features ``feats``."""
        border = np.array([product_shot_score(im) for im in images], dtype=float)
        return combine(border, self.person_probability(feats))
