"""Gradient caching: chunked forward/backward equals one backward pass, and replays dropout masks."""
from __future__ import annotations

import pytest
import torch

import ctl_core.training.gradient_cache as gradient_cache
from ctl_core.training.gradient_cache import forward_backward_in_chunks


def _batch_loss(emb: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Couples every item with every other (like a mined triplet loss): chunked backward must see the whole batch."""
    d = torch.cdist(emb, emb)
    return (d.triu(1) ** 2).mean() - d[0].sum() + logits.logsumexp(1).mean()


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("chunk", [1, 3, 4, 10, 64])
def test_chunked_backward_equals_one_backward(chunk):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8))
    model = lambda x: (net(x)[:, :5], net(x)[:, 5:])
    x = torch.randn(10, 6)
    loss = _batch_loss(*model(x))
    loss.backward()
    want = _grads(net)
    net.zero_grad()
    got_loss, outs = forward_backward_in_chunks(model, x, _batch_loss, chunk, torch.device("cpu"))
    assert float(got_loss) == pytest.approx(float(loss.detach()), rel=1e-6)
    assert [o.shape for o in outs] == [(10, 5), (10, 3)]
    for g, w in zip(_grads(net), want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


def test_chunked_backward_replays_dropout_masks():
    """With dropout, the second pass must draw the first pass's masks: the gradients then equal those of keeping
    every chunk's graph (same RNG stream), and differ from them when the replay is defeated."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(32, 8))
    model = lambda x: (net(x)[:, :5], net(x)[:, 5:])
    x = torch.randn(12, 6)

    def reference():
        torch.manual_seed(1)
        outs = [model(c) for c in x.tensor_split(3)]
        _batch_loss(*(torch.cat(o) for o in zip(*outs))).backward()
        g = _grads(net)
        net.zero_grad()
        return g

    want = reference()
    torch.manual_seed(1)
    forward_backward_in_chunks(model, x, _batch_loss, 4, torch.device("cpu"))
    for g, w in zip(_grads(net), want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)
    net.zero_grad()

    real = gradient_cache._set_rng_state
    try:
        gradient_cache._set_rng_state = lambda state, device: None  # no replay: fresh masks in pass 2
        torch.manual_seed(1)
        forward_backward_in_chunks(model, x, _batch_loss, 4, torch.device("cpu"))
    finally:
        gradient_cache._set_rng_state = real
    assert any(not torch.allclose(g, w) for g, w in zip(_grads(net), want))
