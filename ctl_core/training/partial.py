"""Fine-tuning the last stages of the backbone from cached activations (``TrainConfig(mode="partial")``).

The frozen stages below the last ``k`` run once per image: their output, the input of the trainable part, is cached
as float16 maps (``ctl_core.model.features.cached_stage_inputs``; Lite0 k = 1: 192 x 7 x 7, k = 2: 112 x 14 x 14).
Training then runs only the last ``k`` stages, the conv head and the CTL heads (``ctl_core.model.stages``).
This module holds the data side: the de-duplicated stage inputs of a set of items (``StageInputs``), the pooled
features of the trainable part over them (``pooled``), and the heads' input-statistics refresh after training.
The training loop itself is the one every mode shares (``ctl_core.training.train.train_partial``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ctl_core.config import Workspace
from ctl_core.model.backbone import Backbone
from ctl_core.model.features import Source, cached_stage_inputs, source_key
from ctl_core.model.heads import CTLHeads
from ctl_core.progress import Progress


@dataclass
class StageInputs:
    """Stage-input maps of N rows, stored once per distinct image: ``maps`` (U, C, h, w) float16 and ``rows`` (N,),
    the map of each row (an outfit table repeats a product in every outfit it belongs to)."""

    maps: torch.Tensor
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, batch: np.ndarray | torch.Tensor) -> torch.Tensor:
        """float32 maps of rows ``batch``, on the maps' device."""
        idx = torch.as_tensor(self.rows[np.asarray(batch)], device=self.maps.device)
        return self.maps[idx].float()

    def to(self, device: torch.device | str) -> "StageInputs":
        return StageInputs(self.maps.to(device), self.rows)

    def subset(self, rows: np.ndarray) -> "StageInputs":
        """The same maps, rows ``rows`` only (a split of the items)."""
        return StageInputs(self.maps, self.rows[np.asarray(rows)])

    @property
    def nbytes(self) -> int:
        return self.maps.numel() * self.maps.element_size()


def stage_inputs(ws: Workspace, backbone: Backbone, sources: Sequence[Source], k: int,
                 progress: Progress | None = None, *, skip_bad: bool = False,
                 ) -> StageInputs | tuple[StageInputs, np.ndarray]:
    """``StageInputs`` of ``sources`` (computed once per distinct image, cached under ``features/``). With
    ``skip_bad`` returns ``(inputs, bad)``; bad rows (unreadable images) hold zero maps."""
    keys = [source_key(p, b) for p, b in sources]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    uniq = [sources[i] for i in first.values()]
    out = cached_stage_inputs(ws, backbone, uniq, k, progress=progress, skip_bad=skip_bad)
    maps, bad = out if skip_bad else (out, None)
    pos = {key: j for j, key in enumerate(first)}
    rows = np.array([pos[key] for key in keys], dtype=np.int64)
    inputs = StageInputs(torch.from_numpy(np.ascontiguousarray(maps)), rows)
    return (inputs, bad[rows]) if skip_bad else inputs


@torch.no_grad()
def pooled(top: nn.Module, inputs: StageInputs, batch_size: int = 256, distinct: bool = False) -> np.ndarray:
    """Pooled features (N, D) float32 of the trainable part ``top`` (run in eval mode) over ``inputs``' rows;
    ``distinct``: one row per distinct map (U, D) instead."""
    was = top.training
    top.eval()
    params = list(top.parameters())
    device = params[0].device if params else inputs.maps.device
    out = [top(inputs.maps[s:s + batch_size].to(device).float()).float().cpu()
           for s in range(0, len(inputs.maps), batch_size)]
    top.train(was)
    feats = torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)
    return feats if distinct else feats[inputs.rows]


@torch.no_grad()
def refresh_input_norm(heads: CTLHeads, features: np.ndarray) -> None:
    """Set the heads' input standardisation to the statistics of ``features`` (the training rows' features from
    the fine-tuned backbone). Its running statistics are a cumulative average over training batches, exact for
    fixed features but lagging once the backbone moves; training itself uses batch statistics, so this is what
    inference should see."""
    norm = heads.input_norm
    x = torch.as_tensor(np.asarray(features, dtype=np.float32), device=norm.running_mean.device)
    norm.running_mean.copy_(x.mean(0))
    norm.running_var.copy_(x.var(0, unbiased=True))
    norm.num_batches_tracked.fill_(1)


def adapted_features(ws: Workspace, method: str, sources: Sequence[Source], progress: Progress | None = None,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features (N, D) of a partial run's fine-tuned backbone for ``sources``, and the mask of unreadable
    images (zero rows): the cached stage inputs of the pretrained backbone's frozen stages (computed from images
    where missing) through the run's fine-tuned last stages. The same features as
    ``cached_features(ws, load_model(ws, method).backbone, sources)`` up to float16 rounding, without running
    the frozen stages again."""
    from ctl_core.model.ctl_model import load_model, read_run_config, run_backbone
    from ctl_core.model.stages import TrainableTop

    config = read_run_config(ws, method)
    train = config.get("train", {})
    if train.get("mode") != "partial":
        raise ValueError(f"run {method!r} is not a partial fine-tuning run (mode {train.get('mode')!r})")
    k = int(train["trainable_stages"])
    tuned = load_model(ws, method, device="cpu", fuse=False).backbone
    inputs, bad = stage_inputs(ws, run_backbone(config), sources, k, progress, skip_bad=True)
    return pooled(TrainableTop(tuned, k), inputs), bad


__all__ = ["StageInputs", "adapted_features", "pooled", "refresh_input_norm", "stage_inputs"]
