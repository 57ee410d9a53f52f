"""The default recipe keeps what the exercise asks: MLP encoder and decoder,
a linear code of the requested size, tanh output for data in [-1, 1], MSE."""

from __future__ import annotations

import torch
from torch import nn

from core.config import AEConfig
from core.nn.models import build_model


def test_default_model_is_the_exercise_model():
    config = AEConfig(latent=2)
    assert (config.kind, config.hidden, config.activation) == ("ae", (512, 256), "silu")
    model = build_model(config)
    enc = list(model.encoder)
    dec = list(model.decoder[0]) + list(model.decoder[1:])
    # MLPs: only Linear layers and the chosen activation, nothing else
    assert {type(m) for m in enc} == {nn.Linear, nn.SiLU}
    assert {type(m) for m in dec[:-1]} == {nn.Linear, nn.SiLU}
    # the code is a plain linear layer of the requested width, with nothing after it
    assert isinstance(enc[-1], nn.Linear) and enc[-1].out_features == 2
    assert [m.out_features for m in enc if isinstance(m, nn.Linear)] == [512, 256, 2]
    assert [m.out_features for m in dec if isinstance(m, nn.Linear)] == [256, 512, 784]
    assert isinstance(dec[-2], nn.Linear)
    t = torch.randn(8, 784) * 3
    assert torch.equal(dec[-1](t), torch.tanh(t))  # the output layer is tanh

    x = torch.rand(8, 784) * 2 - 1
    z = model.encode(x)
    assert z.shape == (8, 2)
    # linear code: the encoder's last layer applied to its input, unbounded and unclipped
    assert torch.allclose(z, enc[-1](model.encoder[:-1](x)))
    out = model.decode(z)
    assert out.shape == (8, 784) and out.abs().max() < 1  # tanh keeps it inside (-1, 1)
    # the loss is the mean squared error per pixel
    parts = model.losses(x)
    assert torch.allclose(parts["loss"], ((out - x) ** 2).mean()) and parts["mse"] is parts["loss"]


def test_default_code_size_follows_the_request():
    for latent in (1, 2, 7):
        model = build_model(AEConfig(latent=latent))
        assert model.encoder[-1].out_features == latent and model.decoder[0][0].in_features == latent


def test_under_bf16_the_output_tanh_is_taken_in_float32():
    # The last Linear multiplies in bfloat16; tanh and the loss see float32.
    model = build_model(AEConfig(latent=2))
    z = torch.randn(16, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.decode(z)
        pre = model.decoder[0](z)
    assert pre.dtype == torch.bfloat16 and out.dtype == torch.float32
    assert torch.equal(out, torch.tanh(pre.float()))
