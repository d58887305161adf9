"""Query understanding for images (paper sec. 3, stage 1): category, confidence, product-shot score, warning.

``understand_images(adapter, paths)`` answers for each image file, or every image of a folder, batched:
images are decoded ``UnderstandConfig.batch_size`` at a time, featurized through the ``ModelAdapter`` in one
forward pass per batch, classified by the category head (blended with the ImageNet prior, ``category_probs``) and
scored as product shots (``ctl_core.serving.product_shot``). Test-time flip (``flip``, off by default): the
category probabilities are the mean over the image and its mirror image (one extra forward pass per batch); on the
held-out fashion-product-images photos it moved accuracy by -0.1 to +0.1 points, so it is not worth its cost.

An image that cannot be read is answered with its ``error`` (the rest still are); a path that does not exist,
or a folder without images, raises ``UnderstandError`` before anything runs. ``understand_pil`` is the same for
images in memory; the recommender's uploaded-image path uses it, so ``recommend --image`` and ``understand`` agree.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ctl_core.data.categories import CATEGORIES
from ctl_core.data.importers.common import IMAGE_EXTENSIONS
from ctl_core.images import PRODUCT_SHOT_THRESHOLD, ImageError, load_image
from ctl_core.io import to_jsonable
from ctl_core.serving.adapter import ModelAdapter
from ctl_core.serving.product_shot import ProductShotScorer


class UnderstandError(ValueError):
    """Paths that cannot be understood at all (missing, or a folder without images)."""


@dataclass(frozen=True)
class UnderstandConfig:
    """``top_k``: categories listed per image; ``flip``: test-time flip of the category probabilities."""

    batch_size: int = 32
    flip: bool = False
    top_k: int = 3
    product_shot_threshold: float = PRODUCT_SHOT_THRESHOLD

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.top_k < 1:
            raise UnderstandError(f"batch_size and top_k must be >= 1, got {self.batch_size} and {self.top_k}")


@dataclass
class ImageUnderstanding:
    """What stage 1 makes of one image (``error`` set, the rest None, when it could not be read)."""

    path: str
    category: str | None = None
    confidence: float | None = None
    top: list[dict] = field(default_factory=list)  # [{"category", "probability"}], best first
    product_shot_score: float | None = None
    is_product_shot: bool | None = None
    warning: str | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return to_jsonable(asdict(self))


def shot_warning(score: float, threshold: float) -> str | None:
    """The warning for an image that does not look like a product shot (None when it does)."""
    if score >= threshold:
        return None
    return (f"the image does not look like a product shot (score {score:.2f} < {threshold:.2f}); recommendations "
            "may be poor — use a photo of one product alone on a plain background, not worn by a person")


def image_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders expanded to the image files under them (sorted, hidden ones skipped)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not found:
                raise UnderstandError(f"{p}: no image files in this folder ({', '.join(IMAGE_EXTENSIONS)})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise UnderstandError(f"{p}: no such file or folder")
    return out


def understand_pil(adapter: ModelAdapter, images: Sequence[Image.Image], config: UnderstandConfig = UnderstandConfig(),
                   scorer: ProductShotScorer | None = None, return_features: bool = False) -> tuple[np.ndarray, ...]:
    """(category probabilities (B, 21), style embeddings (B, E), product-shot scores (B,)) of RGB images, and with
    ``return_features`` their backbone features (B, D) too (the outfit model's input: no second forward pass).

    The embedding is of the image as given (the indices hold unflipped catalogue embeddings). ``scorer`` None:
    the border score alone (``ProductShotScorer()``).
    """
    feats = adapter.featurize(images)
    probs, emb = adapter.understand(feats)
    if config.flip:
        flipped, _ = adapter.understand(adapter.featurize([ImageOps.mirror(im) for im in images]))
        probs = (probs + flipped) / 2.0
    shots = (scorer or ProductShotScorer()).score(images, feats)
    return (probs, emb, shots, feats) if return_features else (probs, emb, shots)


def _answer(path: str, probs: np.ndarray, score: float, config: UnderstandConfig) -> ImageUnderstanding:
    order = np.argsort(-probs)[: config.top_k]
    top = [{"category": CATEGORIES[int(i)], "probability": float(probs[i])} for i in order]
    t = config.product_shot_threshold
    return ImageUnderstanding(path=path, category=top[0]["category"], confidence=top[0]["probability"], top=top,
                              product_shot_score=float(score), is_product_shot=bool(score >= t),
                              warning=shot_warning(float(score), t))


def understand_images(adapter: ModelAdapter, paths: Iterable[str | Path], config: UnderstandConfig = UnderstandConfig(),
                      scorer: ProductShotScorer | None = None) -> list[ImageUnderstanding]:
    """Stage 1 for every image of ``paths`` (files or folders), in order; see the module docstring.

    ``scorer``: the workspace's product-shot scorer (``ProductShotScorer.load``); None: the border score alone.
    """
    files = image_paths(paths)
    out: list[ImageUnderstanding] = []
    for start in range(0, len(files), config.batch_size):
        batch, images, answers = files[start:start + config.batch_size], [], {}
        for i, f in enumerate(batch):
            try:
                images.append((i, load_image(f)))
            except ImageError as e:
                answers[i] = ImageUnderstanding(path=str(f), error=str(e))
        if images:
            probs, _, scores = understand_pil(adapter, [im for _, im in images], config, scorer)
            for (i, _), p, s in zip(images, probs, scores):
                answers[i] = _answer(str(batch[i]), p, s, config)
        out.extend(answers[i] for i in range(len(batch)))
    return out
