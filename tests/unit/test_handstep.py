"""core/engine/handstep.py: the hand-written step gives autograd's loss and
gradients, and FlatAdam gives torch.optim.Adam's update, for every activation."""

from __future__ import annotations

import pytest
import torch

from core.config import AEConfig
from core.engine.fit import make_optimizer, uses_hand_step
from core.engine.handstep import HandStep, layers_of
from core.nn.adam import FlatAdam, flatten
from core.nn.models import VAE, AutoEncoder, build_model

ACTS = ("silu", "gelu", "relu", "tanh")


def twins(act: str, dtype=torch.float64):
    """Two equal small autoencoders and a batch in [-1, 1]."""
    torch.manual_seed(0)
    a = AutoEncoder(3, (16, 8), act).to(dtype)
    b = AutoEncoder(3, (16, 8), act).to(dtype)
    b.load_state_dict(a.state_dict())
    x = torch.rand(32, 784, generator=torch.Generator().manual_seed(1), dtype=dtype) * 2 - 1
    return a, b, x


def hand(model, lr=1e-3, precision="fp32"):
    opt = FlatAdam(model.parameters(), flatten(model.parameters()), lr)
    return HandStep(model, opt, precision), opt


def autograd_loss(model, x):
    """The reference: the MSE written out here, differentiated by autograd."""
    loss = (model.decoder(model.encoder(x)) - x).pow(2).mean()
    loss.backward()
    return loss


@pytest.mark.parametrize("act", ACTS)
def test_loss_and_gradients_are_autograds(act):
    a, b, x = twins(act)
    step, _ = hand(a)
    loss = step.forward(x)
    step.backward()
    ref = autograd_loss(b, x)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-14, msg=name)
        assert q.grad.abs().sum() > 0, name  # every layer does get a gradient


@pytest.mark.parametrize("act", ("silu", "relu"))
def test_three_steps_move_the_weights_as_torch_adam_does(act):
    a, b, x = twins(act)
    step, opt = hand(a, lr=1e-2)
    theirs = torch.optim.Adam(b.parameters(), lr=1e-2)
    for _ in range(3):
        step(x)
        theirs.zero_grad()
        autograd_loss(b, x)
        theirs.step()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12, msg=name)
    assert not torch.equal(a.encoder[0].weight, twins(act)[0].encoder[0].weight)  # it did move
    assert opt.state_dict()["state"][0]["step"].item() == 3


def test_bf16_gradients_are_autocasts_within_rounding():
    a, b, x = twins("silu", torch.float32)
    step, opt = hand(a, precision="bf16")
    loss = step.forward(x)
    step.backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = b.decoder(b.encoder(x))
    ref = (out.float() - x).pow(2).mean()
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-3)
    ours = torch.cat([p.grad.reshape(-1) for p in a.parameters()])
    theirs = torch.cat([q.grad.reshape(-1) for q in b.parameters()])
    assert all(p.grad.untyped_storage().data_ptr() == opt.grad.untyped_storage().data_ptr() for p in a.parameters())
    assert ((ours - theirs).norm() / theirs.norm()).item() < 2e-2


def test_flat_adam_state_round_trips_through_torch_adam():
    a, b, x = twins("silu")
    step, opt = hand(a)
    for _ in range(2):
        step(x)
    theirs = torch.optim.Adam(b.parameters(), lr=1e-3)
    b.load_state_dict(a.state_dict())
    theirs.load_state_dict(opt.state_dict())
    c = twins("silu")[0]
    again = FlatAdam(c.parameters(), flatten(c.parameters()), 1e-3)
    again.load_state_dict(theirs.state_dict())
    for i, p in enumerate(a.parameters()):
        torch.testing.assert_close(again.exp_avg_sq[i], opt.exp_avg_sq[i], rtol=0, atol=0)
    assert again.steps[0].item() == 2


def test_flatten_keeps_values_and_shares_one_buffer():
    a, b, _ = twins("silu")
    flat = flatten(a.parameters())
    assert flat.numel() == sum(p.numel() for p in a.parameters())
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
        assert p.untyped_storage().data_ptr() == flat.untyped_storage().data_ptr()


def test_only_the_plain_autoencoder_on_the_cpu_takes_the_hand_step():
    cpu = torch.device("cpu")
    assert layers_of(VAE(2, (16,), "silu")) is None
    assert layers_of(AutoEncoder(2, (16, 8), "silu"))[1] == ["silu", "silu", None, "silu", "silu", None]
    ae, vae = AEConfig(latent=2), AEConfig(latent=2, kind="vae")
    assert uses_hand_step(ae, build_model(ae), cpu)
    assert not uses_hand_step(vae, build_model(vae), cpu)
    assert not uses_hand_step(ae, build_model(ae), torch.device("meta"))
    model = build_model(ae)
    assert isinstance(make_optimizer(model, ae, cpu), FlatAdam)
    with pytest.raises(ValueError):
        HandStep(build_model(vae), make_optimizer(build_model(vae), vae, cpu), "fp32")
