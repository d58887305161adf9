"""Device choice, one owner for every stage: ``"auto"`` means CUDA when there is a GPU, else the CPU."""
from __future__ import annotations

import torch


class DeviceError(ValueError):
    """A device that is unknown or not available on this machine."""


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` as asked."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r} asked for but CUDA is not available here; use 'cpu' or 'auto'")
        return torch.device(name)
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError("device 'mps' asked for but it is not available here; use 'cpu' or 'auto'")
        return torch.device("mps")
    raise DeviceError(f"unknown device {device!r}; expected 'auto', 'cpu', 'cuda' or 'mps'")
