"""TorchScript export of a trained model for serving (paper sec. 3: the model is exported and served).

``export_model(ws, method)`` traces backbone + heads (batch norm folded) into ``models/<method>/model.ts``: input a
normalised (B, 3, S, S) float batch, output ``(category logits (B, 21), style embedding (B, 128))``. The file also
carries ``ctl.json`` (method, backbone, preprocessing, heads checksum) so a server needs nothing else.
"""
from __future__ import annotations

import json
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ctl_core.config import Workspace
from ctl_core.io import atomic_path
from ctl_core.model.backbone import Backbone
from ctl_core.model.ctl_model import CTLModel, load_model, model_checksum, pick_device
from ctl_core.model.heads import CTLHeads

META_NAME = "ctl.json"


@contextmanager
def _quiet_jit():
    """TorchScript is deprecated in favour of torch.export, but it is still what a plain C++/Python server loads."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        yield


class _Exportable(nn.Module):
    """(images) → (logits, embedding), with the channels_last conversion inside the graph."""

    def __init__(self, backbone: Backbone, heads: CTLHeads):
        super().__init__()
        self.backbone = backbone
        self.heads = heads
        self.channels_last = bool(backbone.channels_last)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        feats = self.backbone.forward_features(images)
        return self.heads.classify(feats), self.heads.embed(feats)


def trace_model(model: CTLModel, batch: int = 2) -> torch.jit.ScriptModule:
    """Trace ``model`` (eval mode, on CPU) into TorchScript returning ``(logits, embedding)``."""
    wrapper = _Exportable(model.backbone, model.heads).cpu().eval()
    s = model.backbone.preprocess.input_size
    example = torch.randn(batch, 3, s, s, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), _quiet_jit():
        return torch.jit.trace(wrapper, example, check_trace=False)


def export_model(ws: Workspace, method: str, path: str | os.PathLike | None = None) -> Path:
    """Export the trained ``method`` to TorchScript (default ``models/<method>/model.ts``), atomically.

    Returns the path."""
    model = load_model(ws, method, device="cpu", fuse=True)
    traced = trace_model(model)
    out = Path(path) if path is not None else ws.export_path(method)
    meta = {"method": method, "backbone": model.backbone.name, "backbone_fingerprint": model.backbone.fingerprint,
            "preprocess": model.backbone.preprocess.to_dict(), "heads_checksum": model_checksum(ws, method),
            "outputs": ["category_logits", "embedding"]}
    with atomic_path(out) as tmp, _quiet_jit():
        torch.jit.save(traced, str(tmp), _extra_files={META_NAME: json.dumps(meta)})
    return out


def load_exported(path: str | os.PathLike, device: str | torch.device = "auto") -> torch.jit.ScriptModule:
    """Load an exported model on ``device`` in eval mode; call it on a normalised batch → (logits, embedding)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist; export it first (ctl_core.model.export.export_model)")
    with _quiet_jit():
        module = torch.jit.load(str(p), map_location=pick_device(device))
    return module.eval()


def exported_metadata(path: str | os.PathLike) -> dict:
    """The ``ctl.json`` stored inside an exported model (method, backbone, preprocess, heads checksum)."""
    extra = {META_NAME: ""}
    with _quiet_jit():
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[META_NAME])
