"""Encoder/decoder MLPs, the autoencoder and the VAE.

Shapes: images are flat (B, 784) in [-1, 1]; codes are (B, latent).
The decoder ends in tanh because the data lives in [-1, 1]; the encoder ends
in a plain linear layer because a code has no natural bounds.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from core.config import DEVICES, IMAGE_DIM, AEConfig
from core.errors import DeviceError

_ACT = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers with `activation` between them and nothing after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_ACT[activation]())
    return nn.Sequential(*layers)


class FloatTanh(nn.Module):
    """tanh computed in at least float32 (float64 stays float64).

    Under bf16 autocast the last Linear hands over bfloat16; the loss is
    taken in float32 anyway, so widening before tanh rather than after costs
    no extra cast and keeps tanh and its gradient in float32. (torch's CPU
    tanh alone is about 5x slower on bfloat16 than on float32, but over a
    whole training step the difference was within this machine's noise.)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x.float() if x.dtype in (torch.bfloat16, torch.float16) else x)


class AutoEncoder(nn.Module):
    def __init__(self, latent: int, hidden=(512, 256), activation="relu", beta: float = 1.0):
        super().__init__()
        self.latent = latent
        self.encoder = mlp([IMAGE_DIM, *hidden, self.code_width()], activation)
        self.decoder = nn.Sequential(mlp([latent, *reversed(hidden), IMAGE_DIM], activation), FloatTanh())

    def code_width(self) -> int:
        return self.latent

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic code used for plots and interpolation: (B, latent)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def losses(self, x: torch.Tensor, noise: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Scalar tensors: 'loss' (what is minimised) and 'mse' (per pixel)."""
        return self.losses_and_codes(x, noise)[0]

    def losses_and_codes(self, x: torch.Tensor, noise: torch.Generator | None = None):
        """losses() and, from the same pass, the codes encode() gives: (B, latent).
        Evaluation uses both, so the scatter codes cost no second encoder pass."""
        z = self.encoder(x)
        mse = F.mse_loss(self.decoder(z), x)
        return {"loss": mse, "mse": mse}, z


class VAE(AutoEncoder):
    """Encoder emits (mean, log-variance); the KL term is core.gauss.kl's closed form.

    The objective is MSE per pixel + beta * KL per image / 784, i.e. a Gaussian
    decoder with fixed variance, scaled per pixel so that one learning rate
    suits both kinds. `beta` is an attribute the engine sets before each step
    (core/nn/schedules.py). With free bits λ > 0 the KL part charges
    β·Σ_j max(λ, KL_j), KL_j the batch mean of dimension j: a dimension below λ
    costs a flat λ and gets no gradient from the KL term.
    """

    def __init__(self, latent: int, hidden=(512, 256), activation="relu", beta: float = 1.0,
                 free_bits: float = 0.0):
        self.beta = beta
        self.free_bits = free_bits
        super().__init__(latent, hidden, activation, beta)

    def code_width(self) -> int:
        return 2 * self.latent

    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.moments(x)[0]

    def losses_and_codes(self, x: torch.Tensor, noise: torch.Generator | None = None):
        """Scalars: 'loss' (the objective), 'mse' (reconstruction term, per pixel),
        'kl' (nats per image) and 'charged_kl' (the KL the objective charges,
        after free bits; beta * charged_kl / 784 is the KL part of 'loss')."""
        mu, logvar = self.moments(x)
        if self.training:
            eps = torch.randn(mu.shape, generator=noise, device=mu.device, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps
        else:
            z = mu  # evaluation is deterministic: decode the mean
        mse = F.mse_loss(self.decoder(z), x)
        from core.gauss.kl import kl_diag_standard

        per_dim = kl_diag_standard(mu, logvar=logvar).terms.mean(0)  # (latent,), mean over the batch
        kl = per_dim.sum()
        charged = per_dim.clamp(min=self.free_bits).sum() if self.free_bits else kl
        parts = {"loss": mse + self.beta * charged / IMAGE_DIM, "mse": mse, "kl": kl, "charged_kl": charged}
        return parts, mu  # the code is the mean, as encode() gives it


def pick_device(name: str) -> torch.device:
    """Resolve 'auto' and check that an explicit device exists.

    Only the names aekl documents are accepted: torch would also take 'meta'
    or 'cpu:3' and fail later, in a way that looks like a damaged checkpoint.
    """
    if name not in DEVICES:
        raise DeviceError(field="device", value=name, rule=f"is not a device aekl knows; choose {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError(field="device", rule="cuda was asked for but no CUDA GPU is available here")
    if name == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(field="device", rule="mps was asked for but MPS is not available here")
    return torch.device(name)


def build_model(config: AEConfig) -> AutoEncoder:
    """A fresh model for `config`, initialised from torch's global RNG."""
    if config.kind == "vae":
        return VAE(config.latent, config.hidden, config.activation, config.beta, config.free_bits)
    return AutoEncoder(config.latent, config.hidden, config.activation, config.beta)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_trained(run, device: torch.device | str = "cpu") -> tuple[AutoEncoder, AEConfig]:
    """The model of a run as last checkpointed, in eval mode."""
    from core.errors import RunError

    config = run.config()
    state = run.load_checkpoint(map_location=device)
    model = build_model(config).to(device)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise RunError(f"{run.file('checkpoint.pt')} does not match the model in config.json ({first})") from None
    return model.eval(), config
