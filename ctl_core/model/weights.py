"""Reading a weights file (``torch.load`` with ``weights_only=True``) with an error that never repeats PyTorch's
advice to load it unsafely.

When a file holds Python objects beyond tensors, PyTorch's ``UnpicklingError`` says the file "can still be loaded"
by re-running ``torch.load`` with ``weights_only=False`` — which runs whatever code the file carries. Files we
write hold tensors only, so such a file was not written by us (or was tampered with); the message here says that
and what to do instead (retrain, or restore the file from a backup), and keeps PyTorch's text out of it.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch

# Words of PyTorch's unsafe-loading hint; a message holding any of them is not repeated to the user.
_UNSAFE_HINT = ("weights_only", "weights only", "can still be loaded", "trust the source")


def torch_load_tensors(source: Path | bytes, path: Path, fix: str, error: type[ValueError]):
    """``torch.load(source, weights_only=True)`` on the CPU; ``error`` (one line naming ``path`` and ``fix``) when
    it cannot be read. ``source``: the file's bytes or its path."""
    try:
        return torch.load(io.BytesIO(source) if isinstance(source, bytes) else source, map_location="cpu",
                          weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" in str(e).lower():   # a class or function the file would import and call
            raise error(f"{path} holds Python objects besides tensors and was refused unread: loading it could run "
                        f"code, so do not load it any other way; {fix}") from None
        raise error(f"{path} is not a PyTorch weights file we wrote (it holds no tensors we can read); {fix}"
                    ) from None
    except Exception as e:  # torch raises RuntimeError, EOFError, ... on garbage
        first = str(e).splitlines()[0].strip() if str(e).strip() else ""
        detail = "unreadable" if not first or any(w in first.lower() for w in _UNSAFE_HINT) else first
        raise error(f"{path} is not a PyTorch weights file we wrote ({type(e).__name__}: {detail}); {fix}") from None
