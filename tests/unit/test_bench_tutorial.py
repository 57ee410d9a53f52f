"""bench's tutorial loop is written as a tutorial writes it: ReLU between the
layers whatever aekl's own default activation, the run's layer sizes, Adam at 1e-3."""

from __future__ import annotations

import torch
from torch import nn

from core.config import AEConfig
from core.lab.bench import tutorial_setup


def test_the_tutorial_model_is_the_relu_mlp_of_the_runs_sizes():
    images = [(torch.zeros(1, 28, 28), 0)] * 4
    config = AEConfig(activation="silu", hidden=(32, 16), latent=3)
    model, opt, loader = tutorial_setup(config, torch.device("cpu"), images)
    kinds = {type(m) for m in model.modules()}
    assert nn.ReLU in kinds and nn.SiLU not in kinds
    widths = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    assert widths == [32, 16, 3, 16, 32, 784]
    assert opt.param_groups[0]["lr"] == 1e-3 and opt.param_groups[0]["betas"] == (0.9, 0.999)
    assert loader.batch_size == 128
