"""The typed events of a run, shared by the engine that yields them and the
reader that rebuilds them from a run folder.

    Started, Progress*, EpochEnd (per epoch) ..., then Finished, Stopped or Failed

Kept free of torch so that a viewer of run folders starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.config import AEConfig
from core.runfolder.schema import Status


@dataclass(frozen=True)
class Started:
    run_dir: str | None
    config: AEConfig
    device: str
    params: int
    train_size: int
    steps_per_epoch: int
    start_epoch: int  # epochs already done (non-zero when resuming)
    start_step: int  # steps already done inside the current epoch
    precision: str = "fp32"  # what the matmuls ran in: "fp32" or "bf16" (core/engine/precision.py)
    precision_why: str = ""  # why, in a few words ("auto: this CPU has AMX-BF16")


@dataclass(frozen=True)
class Progress:
    epoch: int  # 1-based epoch in progress
    step: int  # steps done in this epoch
    steps: int  # steps per epoch
    loss: float  # mean training loss over the steps since the last Progress
    samples_per_s: float


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    epochs: int
    train_loss: float
    train_mse: float
    test_loss: float
    test_mse: float
    test_kl: float | None  # VAE only: mean KL(q(z|x) || N(0, I)) per test image
    seconds: float  # training time of this epoch, evaluation excluded
    samples_per_s: float
    lr: float
    codes: np.ndarray = field(repr=False)  # (n, latent) float32; n = 0 when not recorded
    labels: np.ndarray = field(repr=False)  # (n,) int64
    frames: np.ndarray = field(repr=False)  # (steps + 2, 28, 28) in [-1, 1]; may be empty
    pair: tuple[int, int] = (0, 1)  # test indices of the interpolation endpoints
    # How many test images test_loss/test_mse are over: an autoencoder's last epoch
    # uses all 10,000, earlier ones every 5th (core/engine/fit.py); None in older rows.
    test_images: int | None = None
    # VAE only (core/nn/elbo.py); defaults so events rebuilt from older rows still load.
    train_kl: float | None = None  # mean KL per image over the epoch's steps
    train_beta_kl: float | None = None  # the KL part of the train objective, times 784
    test_beta_kl: float | None = None  # beta * KL (after free bits) on the test set
    kl_per_dim: tuple[float, ...] = ()  # test KL of each latent dimension; sums to test_kl
    active_units: int | None = None  # dimensions with Var(posterior mean) > 0.01 on test
    beta: float | None = None  # the KL weight in force at the end of the epoch
    # VAE only (core/nn/bound.py): the ELBO with z sampled from q, σx² = ½ on [-1, 1]
    test_nelbo: float | None = None  # −ELBO, nats per image
    test_nelbo_bpd: float | None = None  # the same in bits per dimension (784 dimensions)
    test_recon_nats: float | None = None  # −E_q ln p(x|z), nats per image
    test_sampled_mse: float | None = None  # MSE per pixel decoding sampled z (test_mse decodes the mean)
    elbo_samples: int | None = None  # z drawn per test image for the ELBO
    test_iwae_nll: float | None = None  # last epoch only: −L_k, nats per image (an upper bound on −ln p(x))
    test_iwae_bpd: float | None = None
    iwae_k: int | None = None  # importance samples per image
    iwae_gap: float | None = None  # −ELBO − (−L_k) with the same k draws, ≥ 0
    note: str = ""  # a reader's word on this epoch, e.g. why its pictures are missing

    def metrics_row(self) -> dict:
        row = {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "train_mse": self.train_mse,
            "test_loss": self.test_loss,
            "test_mse": self.test_mse,
            "seconds": round(self.seconds, 4),
            "samples_per_s": round(self.samples_per_s, 1),
            "lr": self.lr,
        }
        if self.test_kl is not None:
            row["test_kl"] = self.test_kl
        for key in ("test_images", "train_kl", "train_beta_kl", "test_beta_kl", "active_units", "beta", *ELBO_KEYS):
            if getattr(self, key) is not None:
                row[key] = getattr(self, key)
        if self.kl_per_dim:
            row["kl_per_dim"] = list(self.kl_per_dim)
        return row


ELBO_KEYS = ("test_nelbo", "test_nelbo_bpd", "test_recon_nats", "test_sampled_mse", "elbo_samples",
             "test_iwae_nll", "test_iwae_bpd", "iwae_k", "iwae_gap")


@dataclass(frozen=True)
class Finished:
    run_dir: str | None
    epochs: int
    test_mse: float
    seconds: float  # wall time of this call, evaluation and writing included
    files: dict[str, str]
    precision: str = ""  # what the matmuls ran in and why: "bf16 (auto: this CPU has AMX-BF16)"


@dataclass(frozen=True)
class Stopped:
    run_dir: str | None
    epoch: int  # epochs fully done
    step: int  # steps done in the interrupted epoch
    files: dict[str, str]


@dataclass(frozen=True)
class Failed:
    """Only a reader of a run folder sees this: the engine raises instead."""

    run_dir: str | None
    status: Status  # FAILED, INTERRUPTED (the process vanished) or DAMAGED
    epoch: int
    step: int
    reason: str


Event = Started | Progress | EpochEnd | Finished | Stopped | Failed
FINAL = (Finished, Stopped, Failed)
