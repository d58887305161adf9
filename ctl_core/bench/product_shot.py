"""The product-shot check on real photos: how many of a shop's product shots it refuses, how many worn photos it
catches.

``product_shot_figures(ws, labels_csv, photos_dir)`` on a workspace whose catalogue is a shop's product table (every
row a product shot, e.g. Mango) and whose person detector is fitted (``build`` with labelled photos):

- shop: of the catalogue's product shots (``is_product_shot`` true), how many score below the threshold with the
  border score alone and with the whole check (``product_shot.combine``); what catalogue inference would refuse
  without the import's flag. ``cross_fitted``: the same with detectors fitted on one half of the catalogue's shots
  and scoring the other half (the catalogue is the detector's negatives: a shot it trained on is no test of it).
- labelled photos (``docs/labels/fpi_worn_photos.csv``: ids of ``photos_dir/images/<id>.jpg`` labelled ``worn``,
  ``product`` or ``unsure``): the warning's recall on worn photos, its false warnings on product photos.

``scripts/product_shot_figures.py`` prints them (README, "Query understanding").
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ctl_core.config import Workspace
from ctl_core.data.tables import read_catalogue
from ctl_core.images import PRODUCT_SHOT_THRESHOLD, ImageError, load_image, product_shot_score
from ctl_core.model.backbone import create_backbone
from ctl_core.model.features import cached_features
from ctl_core.progress import Progress
from ctl_core.serving import product_shot as ps


@dataclass
class ProductShotFigures:
    shop_shots: int
    refused_border_only: int
    refused_with_detector: int
    refused_cross_fitted: int | None
    worn: int
    worn_warned: int
    product_photos: int
    product_warned: int
    detector: dict

    @property
    def worn_recall(self) -> float:
        return self.worn_warned / max(self.worn, 1)

    def to_dict(self) -> dict:
        return {**asdict(self), "worn_recall": self.worn_recall}

    def __str__(self) -> str:
        n = max(self.shop_shots, 1)
        cross = "" if self.refused_cross_fitted is None else \
            f"; cross-fitted detector {self.refused_cross_fitted} ({100 * self.refused_cross_fitted / n:.2f}%)"
        return (f"shop product shots refused (score < {PRODUCT_SHOT_THRESHOLD}): border only "
                f"{self.refused_border_only} of {self.shop_shots:,} ({100 * self.refused_border_only / n:.2f}%), "
                f"with the person detector {self.refused_with_detector} "
                f"({100 * self.refused_with_detector / n:.2f}%){cross}; served anyway: all "
                f"(the import says they are product shots)\n"
                f"labelled photos: worn {self.worn_warned} of {self.worn} warned (recall {self.worn_recall:.3f}); "
                f"product photos {self.product_warned} of {self.product_photos} warned\n"
                f"detector: {self.detector}")


def _unit(pid: str) -> float:
    return int.from_bytes(hashlib.sha256(str(pid).encode()).digest()[:8], "big") / 2.0 ** 64


def _border(paths: list[Path]) -> np.ndarray:
    out = np.zeros(len(paths))
    for i, p in enumerate(paths):
        try:
            out[i] = product_shot_score(load_image(p))
        except ImageError:
            out[i] = np.nan
    return out


def product_shot_figures(ws: Workspace, labels_csv: Path, photos_dir: Path, cross_fit: bool = True,
                         progress: Progress | None = None) -> ProductShotFigures:
    backbone = create_backbone("efficientnet-lite0", pretrained=True)
    det = ps.load_person_detector(ws, backbone)
    if det is None:
        raise ValueError(f"{ws.root} has no person detector for {backbone.name}; run build with labelled photos")
    cat = read_catalogue(ws.catalogue_csv)
    shots = cat[cat["is_product_shot"].map(ps.import_flag).eq(True)].reset_index(drop=True)
    feats = cached_features(ws, backbone, [(p, None) for p in shots["image_path"]], progress=progress)
    border = _border([ws.abs(p) for p in shots["image_path"]])
    p_person = det.probability(feats)
    with_det = ps.combine(border, p_person)
    cross = None
    if cross_fit:  # two detectors, each fitted with one half of the shop's shots as negatives, scoring the other
        half = np.array([_unit(p) < 0.5 for p in shots["product_id"]])
        crossed = np.zeros(len(shots))
        for side in (True, False):
            d = _fit_without(ws, backbone, shots["product_id"][half == side])
            crossed[half != side] = d.probability(feats[half != side])
        cross = int((ps.combine(border, crossed) < PRODUCT_SHOT_THRESHOLD).sum())
    labels = pd.read_csv(labels_csv, dtype=str, comment="#")  # header comments: who labelled, how
    labels = labels[labels["label"].isin(["worn", "product"])].reset_index(drop=True)
    paths = [Path(photos_dir) / "images" / f"{i}.jpg" for i in labels["id"]]
    lf = cached_features(ws, backbone, [(str(p), None) for p in paths], progress=progress)
    lscore = ps.combine(_border(paths), det.probability(lf))
    warned = lscore < PRODUCT_SHOT_THRESHOLD
    worn = (labels["label"] == "worn").to_numpy()
    return ProductShotFigures(
        shop_shots=len(shots), refused_border_only=int((border < PRODUCT_SHOT_THRESHOLD).sum()),
        refused_with_detector=int((with_det < PRODUCT_SHOT_THRESHOLD).sum()), refused_cross_fitted=cross,
        worn=int(worn.sum()), worn_warned=int((warned & worn).sum()), product_photos=int((~worn).sum()),
        product_warned=int((warned & ~worn).sum()), detector=dict(det.counts))


def _fit_without(ws: Workspace, backbone, held_out_ids) -> ps.PersonDetector:
    """A detector fitted like ``fit_person_detector`` but never seeing ``held_out_ids`` as negatives (not stored)."""
    held = set(held_out_ids)
    return ps.fit_person_detector(ws, backbone, exclude_negatives=held, store=False)
