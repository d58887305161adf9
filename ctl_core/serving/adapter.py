"""The one place serving touches the model: images → backbone features → (category probabilities, style embedding).

The rest of serving (catalogue inference, indices, recommender, benchmarks) sees only ``featurize(images)``,
``understand(feats)`` and ``source_features(ws, sources)``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ctl_core.config import BACKBONE_FILE, Workspace
from ctl_core.images import crop_box, load_image
from ctl_core.model import backbone as backbone_mod
from ctl_core.model import ctl_model as model_mod
from ctl_core.model import features as features_mod
from ctl_core.progress import Progress


class ModelAdapter:
    """The one place serving touches the model: images → backbone features → (category probs, style embedding).

    Build it with ``ModelAdapter.load(ws, method, device)`` for a trained model, or directly over any
    featurizer and ``CTLHeads`` (tests, benchmarks):

    - ``featurize_fn(list[PIL.Image]) -> np.ndarray (B, D)`` backbone features;
    - ``heads``: ``CTLHeads`` (its ``embed`` gives the style embedding);
    - ``probs_fn(torch.Tensor feats) -> (B, 21)`` category probabilities (default: softmax of ``heads.classify``);
    - ``name`` (backbone name) and ``checksum`` (identifies the model in index manifests).
    """

    def __init__(self, featurize_fn: Callable[[list[Image.Image]], np.ndarray], heads: torch.nn.Module, *,
                 probs_fn: Callable[[torch.Tensor], torch.Tensor] | None = None, name: str = "custom",
                 checksum: str | None = None, device: str | torch.device = "cpu", backbone=None):
        self._featurize_fn = featurize_fn
        self.heads = heads.eval()
        self._probs_fn = probs_fn
        self.name = name
        self.device = torch.device(device)
        self.checksum = checksum or heads_checksum(heads)
        self.backbone = backbone  # the real Backbone when there is one (feature cache key, benchmarks)
        self.use_feature_cache = backbone is not None

    # -- construction over the real model modules -----------------------------------------------------------
    @classmethod
    def load(cls, ws: Workspace, method: str, device: str = "auto") -> "ModelAdapter":
        """The trained model of ``method`` (``model.load_model``) behind the adapter interface."""
        dev = model_mod.pick_device(device)
        m = model_mod.load_model(ws, method, device=str(dev))
        adapter = cls.from_model(m, device=dev, checksum=model_mod.model_checksum(ws, method))
        # An end-to-end run fine-tuned the backbone: the shared (pretrained) feature cache does not apply to it.
        adapter.use_feature_cache = not (ws.model_dir(method) / BACKBONE_FILE).is_file()
        return adapter

    @classmethod
    def from_model(cls, m, device: str | torch.device = "cpu", checksum: str | None = None) -> "ModelAdapter":
        """Wrap a ``CTLModel`` (``.backbone`` + ``.heads``) already in memory."""
        dev = torch.device(device)
        m = m.to(dev).eval()
        transform = backbone_mod.build_transform(m.backbone.preprocess)
        # Batch norm folded + channels_last: the fast inference form of the same weights (ENVIRONMENT.md).
        # ``load_model`` already returns it; a model built in memory gets a folded copy here.
        bb = m.backbone
        if not bb.fused:
            bb = backbone_mod.inference_copy(bb).to(dev)

        @torch.inference_mode()
        def featurize(images: list[Image.Image]) -> np.ndarray:
            x = torch.stack([transform(im) for im in images]).to(dev)
            if bb.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return bb.forward_features(x).float().cpu().numpy()

        def probs(feats: torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(model_mod.category_probs(m, feats))

        return cls(featurize, m.heads, probs_fn=probs, name=m.backbone.name, checksum=checksum, device=dev,
                   backbone=m.backbone)

    # -- the interface serving uses ----------------------------------------------------------------------------
    def featurize(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Backbone features (B, D) float32 of RGB images."""
        if not images:
            return np.zeros((0, 0), np.float32)
        return np.asarray(self._featurize_fn(list(images)), dtype=np.float32)

    @torch.inference_mode()
    def understand(self, feats: np.ndarray, metadata: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(category probabilities (B, 21), L2-normalised style embeddings (B, E)) from backbone features.

        ``metadata``: the B catalogue rows (type, colour, fabric columns) for heads trained with that side input;
        None (an uploaded photo) gives the heads' "unknown" metadata. Heads without the side input ignore it.
        """
        t = torch.as_tensor(np.asarray(feats, dtype=np.float32), device=self.device)
        self.heads.eval()
        if self._probs_fn is not None:
            probs = self._probs_fn(t)
        else:
            probs = torch.softmax(self.heads.classify(t), dim=-1)
        if getattr(self.heads, "uses_metadata", False):
            emb = self.heads.embed(t, self.heads.metadata_codes(metadata, len(t)))
        else:
            emb = self.heads.embed(t)
        return (np.asarray(torch.as_tensor(probs).float().cpu(), dtype=np.float32),
                np.ascontiguousarray(emb.float().cpu().numpy(), dtype=np.float32))

    def source_features(self, ws: Workspace, sources: list[tuple[str, tuple | None]], batch_size: int = 32,
                        progress: Progress | None = None) -> np.ndarray:
        """Backbone features of workspace images; through the shared feature cache when a real backbone is present."""
        if self.backbone is not None and self.use_feature_cache:
            return np.asarray(features_mod.cached_features(ws, self.backbone, sources, batch_size=batch_size,
                                                           device=self.device, progress=progress), dtype=np.float32)
        out: list[np.ndarray] = []
        for start in range(0, len(sources), batch_size):
            chunk = sources[start:start + batch_size]
            imgs = [crop_box(load_image(ws.abs(p)), box) for p, box in chunk]
            out.append(self.featurize(imgs))
            if progress:
                progress("features", min(start + batch_size, len(sources)), len(sources))
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def heads_checksum(heads: torch.nn.Module) -> str:
    """sha256 over a module's state dict (names, shapes, values): identifies an in-memory model."""
    h = hashlib.sha256()
    for k, v in heads.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
