"""core.engine.graphstep replays the training step as a CUDA graph; what it
sets up can be checked without CUDA (the replay itself: tests/integration/test_cuda.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from core.config import AEConfig
from core.engine.fit import uses_graphs
from core.engine.graphstep import GraphStep, graph_optimizer
from core.nn.models import build_model


def test_graphs_only_for_an_autoencoder_on_cuda_when_asked():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert uses_graphs(AEConfig(cuda_graphs=True), cuda)
    assert not uses_graphs(AEConfig(cuda_graphs=True), cpu)
    assert not uses_graphs(AEConfig(cuda_graphs=True, kind="vae"), cuda)
    assert not uses_graphs(AEConfig(cuda_graphs=False), cuda)


def test_the_optimizer_keeps_its_learning_rate_on_the_device():
    model = build_model(AEConfig(hidden=(8,)))
    opt = graph_optimizer(model, 3e-3, torch.device("cpu"), (0.9, 0.99))
    (group,) = opt.param_groups
    assert isinstance(group["lr"], torch.Tensor) and float(group["lr"]) == pytest.approx(3e-3)
    assert group["betas"] == (0.9, 0.99)
    assert group["capturable"] and len(group["params"]) == len(list(model.parameters()))


def test_a_float_learning_rate_from_a_resumed_state_becomes_a_device_tensor():
    model = build_model(AEConfig(hidden=(8,)))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)  # as a state dict may bring it back
    step = GraphStep(model, opt, SimpleNamespace(device=torch.device("cpu")), state=None, batch_size=32)
    (group,) = opt.param_groups
    assert isinstance(group["lr"], torch.Tensor) and float(group["lr"]) == pytest.approx(0.01)
    assert step.index.shape == (32,) and step.graph is None and step.failed is None
