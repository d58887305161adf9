"""Gradient caching (Gao et al. 2021): back-propagate a whole-batch loss while keeping only one chunk's activations.

End-to-end training (ctl_core.training.train) runs the backbone on a 256-item batch in chunks with this, so a
batch of triplets fits in a few GB instead of tens while the loss still sees every item of the batch.
"""
from __future__ import annotations

from collections.abc import Callable

import torch


def _rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(state: tuple[torch.Tensor, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def forward_backward_in_chunks(model: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], inputs: torch.Tensor,
                               loss_fn: Callable[..., torch.Tensor], chunk: int, device: torch.device,
                               scale: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
                               autocast: bool = False) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Gradient caching: ``loss_fn(*model(inputs))`` back-propagated with at most ``chunk`` inputs' activations alive.

    The batch is cut into ceil(n / chunk) chunks of even size (with ``chunk >= 3`` none holds a single item, which
    batch norm in training mode refuses).
    Pass 1 runs ``model`` on each chunk without a graph and concatenates the outputs; the loss is computed on the
    whole batch and back-propagated to those outputs only; pass 2 runs each chunk again with its graph and
    back-propagates the cached output gradients into the parameters. Each chunk's RNG state is replayed, so dropout
    draws the same masks in both passes. With ``chunk >= len(inputs)`` the parameter gradients equal one ordinary
    backward pass. ``scale`` wraps the loss before backward (a GradScaler's ``scale``). Returns (loss, outputs),
    both detached.
    """
    n_parts = -(-len(inputs) // chunk)
    parts = inputs.tensor_split(n_parts)  # even sizes (differ by at most 1): no chunk of one item for batch norm
    states, outs = [], []
    with torch.no_grad():
        for x in parts:
            states.append(_rng_state(device))
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=autocast):
                outs.append(tuple(o.float() for o in model(x)))
    cached = tuple(torch.cat(o).requires_grad_() for o in zip(*outs))
    loss = loss_fn(*cached)
    scale(loss).backward()
    after = _rng_state(device)
    grads = [g.grad.tensor_split(n_parts) if g.grad is not None else [None] * n_parts for g in cached]
    for i, x in enumerate(parts):
        _set_rng_state(states[i], device)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=autocast):
            out = model(x)
        pairs = [(o.float(), g[i]) for o, g in zip(out, grads) if g[i] is not None]
        torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
    _set_rng_state(after, device)
    return loss.detach(), tuple(c.detach() for c in cached)
