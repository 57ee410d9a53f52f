"""core.nn.adam: the engine's Adam is torch's fused Adam, number for number, and
its state dict is interchangeable with torch.optim.Adam's."""

from __future__ import annotations

import torch

from core.nn.adam import FusedAdam


def twin_models():
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    b = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    b.load_state_dict(a.state_dict())
    return a, b


def train(model, opt, steps, lr0=1e-3):
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(1))
    for i in range(steps):
        opt.param_groups[0]["lr"] = lr0 * (i + 1)  # the engine sets the lr before every step
        opt.zero_grad(set_to_none=True)
        model(x).pow(2).mean().backward()
        opt.step()


def test_same_weights_as_torch_fused_adam():
    a, b = twin_models()
    ours, theirs = FusedAdam(a.parameters(), 1e-3), torch.optim.Adam(b.parameters(), lr=1e-3, fused=True)
    train(a, ours, 5)
    train(b, theirs, 5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[0].weight, twin_models()[0][0].weight)  # it did move


def test_a_chosen_beta2_gives_torchs_numbers_for_it():
    a, b = twin_models()
    ours = FusedAdam(a.parameters(), 1e-3, (0.9, 0.95))
    theirs = torch.optim.Adam(b.parameters(), lr=1e-3, betas=(0.9, 0.95), fused=True)
    train(a, ours, 5)
    train(b, theirs, 5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c, _ = twin_models()
    train(c, FusedAdam(c.parameters(), 1e-3), 5)  # torch's default 0.999 moves the weights elsewhere
    assert not torch.equal(a[0].weight, c[0].weight)


def test_state_dicts_load_both_ways_and_continue_alike():
    a, b = twin_models()
    ours, theirs = FusedAdam(a.parameters(), 1e-3), torch.optim.Adam(b.parameters(), lr=1e-3, fused=True)
    train(a, ours, 3)
    train(b, theirs, 3)
    saved = ours.state_dict()
    assert saved["param_groups"][0].keys() == theirs.state_dict()["param_groups"][0].keys()
    assert [float(s["step"]) for s in saved["state"].values()] == [3.0] * 4

    # swap: torch's Adam continues from our state, ours from torch's
    ours2, theirs2 = FusedAdam(a.parameters(), 1.0), torch.optim.Adam(b.parameters(), lr=1.0, fused=True)
    ours2.load_state_dict(theirs.state_dict())
    theirs2.load_state_dict(saved)
    assert ours2.param_groups[0]["lr"] == theirs2.param_groups[0]["lr"] == 3e-3
    train(a, ours2, 2)
    train(b, theirs2, 2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_without_the_private_kernel_the_public_fused_adam_trains(monkeypatch):
    # torch._fused_adam_ is private to torch: a release may drop it or change its
    # arguments. Either way the engine's Adam must be torch.optim.Adam(fused=True).
    from core.nn.adam import adam

    # (torch.optim.Adam calls the same kernel under the hood, so it is hidden only
    # while the optimizer is chosen.)
    a, b = twin_models()
    with_kernel = adam(a.parameters(), 1e-3, torch.device("cpu"))
    with monkeypatch.context() as patch:
        patch.delattr(torch, "_fused_adam_")
        without = adam(b.parameters(), 1e-3, torch.device("cpu"))
    assert not isinstance(with_kernel, torch.optim.Adam)  # where the kernel works, torch.optim stays unloaded
    assert isinstance(without, torch.optim.Adam) and without.defaults["fused"] is True
    train(a, with_kernel, 4)
    train(b, without, 4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_a_kernel_that_refuses_the_call_falls_back(monkeypatch):
    from core.nn.adam import adam

    def changed(*args, **kwargs):  # a later torch with other keyword arguments
        raise TypeError("_fused_adam_() got an unexpected keyword argument 'beta1'")

    a, _ = twin_models()
    with monkeypatch.context() as patch:
        patch.setattr(torch, "_fused_adam_", changed)
        opt = adam(a.parameters(), 1e-3, torch.device("cpu"))
    assert isinstance(opt, torch.optim.Adam)
    before = a[0].weight.clone()
    train(a, opt, 2)
    assert not torch.equal(a[0].weight, before)
