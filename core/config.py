"""AEConfig: the one dataclass that describes a training run.

It holds every default; the CLI options and the TUI form map onto it. It is
kept free of torch so that building the CLI (and `aekl --help`) stays fast.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from core.errors import BadInput

KINDS = ("ae", "vae")
ACTIVATIONS = ("relu", "gelu", "tanh", "silu")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
IMAGE_DIM = 28 * 28
TRAIN_SIZE = 60_000  # MNIST training images
TEST_SIZE = 10_000  # MNIST test images

# Limits on what a person can ask for. They are checked before any tensor is
# made, so that a typo such as --latent 100000000 is one line of advice rather
# than an allocation that fails (or swaps) minutes later.
#
# torch takes seeds up to 2**64 - 1, but the engine seeds the VAE noise with
# seed + 1 (and, on a resume across devices, seed + 1 + the step count), so
# seeds stop at 2**63 - 1 to leave room for those offsets.
MAX_SEED = 2**63 - 1
# (`aekl kl` keeps its own limits on seeds and draws, in core/gauss/kl.py and core/gauss/parse.py.)
# Weights + gradients + Adam's two moments are 16 bytes per parameter: 50
# million parameters are 800 MB, about 100 times the default model.
MAX_PARAMS = 50_000_000
MAX_LAYERS = 16  # hidden layers in the encoder (the decoder mirrors them)
MAX_EPOCHS = 100_000  # about a day of the default model on a laptop CPU
MAX_THREADS = 1024  # torch.set_num_threads beyond any machine aekl runs on
# Frames of an interpolation: each is one 28x28 picture in the strip PNG and
# in the terminal, so a few hundred are already more than a screen shows.
MAX_INTERP_STEPS = 500
# A name or id becomes a folder name, and a filesystem allows 255 bytes in
# one; 200 leaves room for the "-2" suffix of a same-second run and for temp
# files named after it. Whole paths stop at Linux's PATH_MAX.
MAX_NAME = 200
MAX_PATH = 4096

# Fields added after runs were first written: a config.json without them
# means what these values mean (a run from before β schedules).
OLD_DEFAULTS = {"kl_schedule": "monotonic", "kl_warmup": 0.0, "kl_cycles": 4, "free_bits": 0.0,
                "cuda_graphs": False, "precision": "fp32"}


@dataclass
class AEConfig:
    latent: int = 2  # size of the code z; 2 lets us plot it directly
    hidden: tuple[int, ...] = (512, 256)  # encoder widths; the decoder mirrors them
    activation: str = "relu"  # hidden nonlinearity, one of ACTIVATIONS
    kind: str = "ae"  # "ae" (deterministic) or "vae" (mean + log-variance)
    beta: float = 1.0  # VAE only: weight of the KL term against reconstruction
    # VAE only: how beta moves during the run (core/nn/schedules.py). "monotonic"
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
    # CUDA only, plain AE: replay the whole step as one CUDA graph (core/engine/graphstep.py).
    # Off by default until measured on a GPU; results match the eager path to float tolerance.
    cuda_graphs: bool = False
    # Arithmetic of the matmuls (core/engine/precision.py): "bf16" autocasts them to
    # bfloat16 (weights, Adam and the loss stay fp32); "auto" picks bf16 where the
    # hardware runs it natively (AVX512-BF16/AMX CPUs, bf16 tensor cores), else fp32.
    precision: str = "auto"
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    subset: int | None = None  # use only the first N training images
    interp_from: int | None = None  # test index where the interpolation starts
    interp_to: int | None = None  # test index where it ends
    interp_steps: int = 8  # intermediate frames between the two endpoints

    def validate(self) -> "AEConfig":
        """Raise BadInput (naming the field) for a value no run can use; return self."""
        check_types(self)
        for name, low, high in _RANGES:
            value = getattr(self, name)
            if value is not None:
                check_range(name, value, low, high)
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise BadInput(field="hidden", value=list(self.hidden), rule="sizes must be positive")
        if len(self.hidden) > MAX_LAYERS:
            raise BadInput(field="hidden", value=len(self.hidden), rule=f"allows at most {MAX_LAYERS} layers")
        for name in ("interp_from", "interp_to"):
            if getattr(self, name) is not None:
                check_test_index(name, getattr(self, name))
        params = self.param_count()
        if params > MAX_PARAMS:
            raise BadInput(field="hidden" if self.latent <= max(self.hidden) else "latent",
                           rule=f"gives a model of {params:,} parameters (latent size {self.latent}, hidden sizes "
                                f"{list(self.hidden)}); at most {MAX_PARAMS:,} are allowed")
        for name, choices in (("activation", ACTIVATIONS), ("kind", KINDS), ("device", DEVICES),
                               ("precision", PRECISIONS)):
            if getattr(self, name) not in choices:
                known = "is not a device aekl knows; choose" if name == "device" else "must be one of"
                raise BadInput(field=name, value=getattr(self, name), rule=f"{known} {', '.join(choices)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise BadInput(field="lr", value=self.lr, rule="must be a positive number")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise BadInput(field="beta", value=self.beta, rule="must be a non-negative number")
        self._validate_kl()
        if not 0 <= self.warmup < 1:
            raise BadInput(field="warmup", value=self.warmup, rule="must be a fraction in [0, 1)")
        return self

    def param_count(self) -> int:
        """Weights and biases of the encoder and decoder, computed without torch."""
        out = 2 * self.latent if self.kind == "vae" else self.latent
        enc = [IMAGE_DIM, *self.hidden, out]
        dec = [self.latent, *reversed(self.hidden), IMAGE_DIM]
        return sum((a + 1) * b for sizes in (enc, dec) for a, b in zip(sizes[:-1], sizes[1:]))

    def _validate_kl(self) -> None:
        from core.nn.schedules import SCHEDULES

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
        """Build from JSON and check it with the command line's rules.

        Every problem is a BadInput whose message starts with `source` and
        calls a field by its JSON key ("runs/x/config.json: latent must be
        at least 1, got -1").
        """
        if not isinstance(d, dict):
            raise BadInput(f"{source}: expected a JSON object, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        missing = sorted(names - set(d) - set(OLD_DEFAULTS))
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"unknown fields {', '.join(map(str, unknown))}")
            if missing:
                parts.append(f"missing fields {', '.join(missing)}")
            raise BadInput(f"{source}: {'; '.join(parts)}")
        d = {**OLD_DEFAULTS, **d}
        if isinstance(d["hidden"], list):
            d["hidden"] = tuple(d["hidden"])
        try:
            return cls(**d).validate()
        except BadInput as exc:
            raise BadInput(f"{source}: {exc.worded(exc.field) if exc.field else exc}") from None

    @property
    def tag(self) -> str:
        return f"{self.kind}-z{self.latent}"


# field, lowest, highest (None: no upper bound of its own).
_RANGES = (
    ("latent", 1, None),  # the model size is bounded as a whole by MAX_PARAMS
    ("epochs", 1, MAX_EPOCHS),
    ("batch_size", 1, TRAIN_SIZE),
    ("seed", 0, MAX_SEED),
    ("threads", 0, MAX_THREADS),
    ("subset", 1, TRAIN_SIZE),
    ("interp_steps", 5, MAX_INTERP_STEPS),
)

# What JSON (or a caller) must give for each field.
_INT, _NUM, _STR, _BOOL = "an integer", "a number", "a string", "true or false"
_TYPES = {"latent": _INT, "epochs": _INT, "batch_size": _INT, "seed": _INT, "threads": _INT, "subset": _INT,
          "interp_from": _INT, "interp_to": _INT, "interp_steps": _INT, "kl_cycles": _INT, "lr": _NUM,
          "beta": _NUM, "warmup": _NUM, "kl_warmup": _NUM, "free_bits": _NUM, "activation": _STR, "kind": _STR,
          "device": _STR, "kl_schedule": _STR, "cuda_graphs": _BOOL,
          "precision": _STR}
_OPTIONAL = {"subset", "interp_from", "interp_to"}


def _is(value: Any, kind: str) -> bool:
    if kind == _BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):  # JSON true is not the number 1 here
        return False
    if kind == _INT:
        return isinstance(value, int)
    if kind == _NUM:
        return isinstance(value, (int, float))
    return isinstance(value, str)


def check_types(config: AEConfig) -> None:
    """Each field holds the type the engine expects (a hand-edited config.json may not)."""
    for name, kind in _TYPES.items():
        value = getattr(config, name)
        if value is None and name in _OPTIONAL:
            continue
        if not _is(value, kind):
            raise BadInput(field=name, value=value, rule=f"must be {kind}")
    hidden = config.hidden
    if not isinstance(hidden, tuple) or not all(_is(h, _INT) for h in hidden):
        raise BadInput(field="hidden", value=hidden, rule="must be a list of integers")


def check_range(field: str, value: int, low: int, high: int | None = None) -> int:
    """`value` if low <= value (<= high), else a BadInput that gives the broken bound."""
    if value < low:
        raise BadInput(field=field, value=value, rule=f"must be at least {low}")
    if high is not None and value > high:
        raise BadInput(field=field, value=value, rule=f"must be at most {high}")
    return value


def check_test_index(field: str, index: int, size: int = TEST_SIZE) -> int:
    """An index into the test set, whose images are the interpolation's endpoints."""
    if not 0 <= index < size:
        raise BadInput(field=field, value=index, rule=f"must be a test image index, 0 to {size - 1}")
    return index


def user_path(value: "str | os.PathLike[str]", field: str) -> Path:
    """A path a person typed: '~' expanded, length checked, one-line errors.

    A path that is too long would otherwise fail deep inside os calls with
    ENAMETOOLONG, and '~nosuchuser' with a RuntimeError from pathlib.
    """
    text = os.fspath(value)
    try:
        path = Path(text).expanduser()
    except RuntimeError:
        user = text.split("/", 1)[0]
        raise BadInput(field=field, value=text, rule=f"starts with {user}, but there is no such user's home") from None
    if len(os.fsencode(path)) > MAX_PATH:
        raise BadInput(field=field, value=text, rule=f"is longer than {MAX_PATH} bytes")
    for part in path.parts:
        if len(os.fsencode(part)) > 255:
            raise BadInput(field=field, value=text, rule="has a folder or file name longer than 255 bytes")
    return path
