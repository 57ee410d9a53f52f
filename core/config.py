"""AEConfig: the one dataclass that describes a training run.

It holds every default; the CLI options and the TUI form map onto it. It is
kept free of torch so that building the CLI (and `aekl --help`) stays fast.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from core.errors import BadInput

KINDS = ("ae", "vae")
ACTIVATIONS = ("relu", "gelu", "tanh", "silu")
DEVICES = ("auto", "cpu", "cuda", "mps")
IMAGE_DIM = 28 * 28
# Fields added after runs were first written: a config.json without them
# means what these values mean (a run from before β schedules).
OLD_DEFAULTS = {"kl_schedule": "monotonic", "kl_warmup": 0.0, "kl_cycles": 4, "free_bits": 0.0,
                "cuda_graphs": False}


@dataclass
class AEConfig:
    latent: int = 2  # size of the code z; 2 lets us plot it directly
    hidden: tuple[int, ...] = (512, 256)  # encoder widths; the decoder mirrors them
    activation: str = "relu"  # hidden nonlinearity, one of ACTIVATIONS
    kind: str = "ae"  # "ae" (deterministic) or "vae" (mean + log-variance)
    beta: float = 1.0  # VAE only: weight of the KL term against reconstruction
    # VAE only: how beta moves during the run (core/beta.py). "monotonic"
    # ramps from 0 over kl_warmup epochs, then holds (constant when 0);
    # "cyclical" repeats that ramp kl_cycles times (Fu et al. 2019).
    kl_schedule: str = "monotonic"
    kl_warmup: float = 0.0  # epochs of linear KL warm-up (monotonic only); 0 = none
    kl_cycles: int = 4  # cycles over the run for the cyclical schedule (Fu et al. used 4)
    # VAE only: nats per latent dimension the KL term does not charge for
    # (free bits, Kingma et al. 2016): a dimension may carry this much for free.
    free_bits: float = 0.0
    epochs: int = 12  # full passes over the training set
    batch_size: int = 256  # large batches keep the matmuls efficient on CPU
    lr: float = 3e-3  # peak learning rate of the one-cycle schedule
    # Fraction of all steps spent ramping the lr up. 0.1 measured best here:
    # test MSE 0.150 after 6 epochs instead of 7, and a lower final MSE.
    warmup: float = 0.1
    seed: int = 0  # seeds init, batch order and VAE noise: same seed, same run
    device: str = "auto"  # auto = cuda > mps > cpu
    # CUDA only, plain AE: replay the whole step as one CUDA graph (core/graphstep.py).
    # Off by default until measured on a GPU; results match the eager path to float tolerance.
    cuda_graphs: bool = False
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    subset: int | None = None  # use only the first N training images
    interp_from: int | None = None  # test index where the interpolation starts
    interp_to: int | None = None  # test index where it ends
    interp_steps: int = 8  # intermediate frames between the two endpoints

    def validate(self) -> "AEConfig":
        """Raise BadInput for a value no run can use; return self for chaining."""
        if self.latent < 1:
            raise BadInput(f"latent size must be at least 1, got {self.latent}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise BadInput(f"hidden sizes must be positive, got {list(self.hidden)}")
        if self.activation not in ACTIVATIONS:
            raise BadInput(f"unknown activation {self.activation!r}; choose from {', '.join(ACTIVATIONS)}")
        if self.kind not in KINDS:
            raise BadInput(f"unknown model kind {self.kind!r}; choose ae or vae")
        if self.epochs < 1:
            raise BadInput(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise BadInput(f"batch size must be at least 1, got {self.batch_size}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise BadInput(f"learning rate must be a positive number, got {self.lr}")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise BadInput(field="beta", value=self.beta, rule="must be a non-negative number")
        self._validate_kl()
        if not 0 <= self.warmup < 1:
            raise BadInput(f"warmup must be a fraction in [0, 1), got {self.warmup}")
        if self.device not in DEVICES:
            raise BadInput(f"unknown device {self.device!r}; choose from {', '.join(DEVICES)}")
        if self.threads < 0:
            raise BadInput(f"threads must be 0 (default) or more, got {self.threads}")
        if self.subset is not None and self.subset < 1:
            raise BadInput(f"subset must be at least 1, got {self.subset}")
        if self.interp_steps < 5:
            raise BadInput(f"interpolation needs at least 5 intermediate steps, got {self.interp_steps}")
        return self

    def _validate_kl(self) -> None:
        from core.beta import SCHEDULES

        if self.kl_schedule not in SCHEDULES:
            raise BadInput(field="kl_schedule", value=self.kl_schedule, rule=f"must be one of {', '.join(SCHEDULES)}")
        if not (math.isfinite(self.kl_warmup) and 0 <= self.kl_warmup <= self.epochs):
            raise BadInput(field="kl_warmup", value=self.kl_warmup,
                           rule=f"must be between 0 and the run's {self.epochs} epochs")
        if self.kl_warmup and self.kl_schedule == "cyclical":
            raise BadInput(field="kl_warmup", value=self.kl_warmup,
                           rule="must be 0 with the cyclical schedule (each cycle has its own ramp)")
        if self.kl_cycles < 1:
            raise BadInput(field="kl_cycles", value=self.kl_cycles, rule="must be at least 1")
        if not (math.isfinite(self.free_bits) and self.free_bits >= 0):
            raise BadInput(field="free_bits", value=self.free_bits, rule="must be a non-negative number of nats")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> "AEConfig":
        """Build from JSON; unknown or missing fields are errors naming `source`."""
        if not isinstance(d, dict):
            raise BadInput(f"{source}: expected a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        missing = sorted(names - set(d) - set(OLD_DEFAULTS))
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"unknown fields {', '.join(unknown)}")
            if missing:
                parts.append(f"missing fields {', '.join(missing)}")
            raise BadInput(f"{source}: {'; '.join(parts)}")
        d = {**OLD_DEFAULTS, **d}
        d["hidden"] = tuple(d["hidden"])
        try:
            return cls(**d)
        except TypeError as exc:
            raise BadInput(f"{source}: {exc}") from None

    @property
    def tag(self) -> str:
        return f"{self.kind}-z{self.latent}"
