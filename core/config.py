"""AEConfig: the one dataclass that describes a training run, and the option table.

It holds every default, and each field carries its Option (flag, help,
panel, choices, range): `aekl train`, `aekl sweep`, `aekl-tui`, the app's
form and the launcher are all made from these fields, so an option is
defined here once. Kept free of torch and of any UI library so that
building the CLI (and `aekl --help`) stays fast and the app can read it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable

from core.errors import AeklError, BadInput
from core.nn.schedules import SCHEDULES
from core.options import (WORDS, Param, check_value, cli_param, has_kind, kinds_of, option, options_of, parse_text,
                          shown)

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
MAX_THREADS = 1024  # torch.set_num_threads beyond any machine aekl runs on (and see usable_cpus)
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
                "cuda_graphs": False, "precision": "fp32", "adam_beta2": 0.999, "average": False}


MODEL, TRAINING, INTERP, FOLDER = "Model", "Training", "Interpolation", "Run folder and data"
RUNS_DIR = Path("runs")  # where run folders go unless --out says otherwise
MAX_BETA = 10_000.0  # far past any β-VAE in the literature; above it the KL term drowns the loss
MAX_FREE_BITS = 100.0  # nats per dimension; a trained VAE's dimensions carry a few
MAX_CYCLES = 1_000  # cyclical schedule: a cycle shorter than a few steps is no ramp
MAX_LR = 10.0  # Adam's steps are about lr in size; above 10 no run learns
_INDEX = dict(low=0, high=TEST_SIZE - 1, rule=f"must be a test image index, 0 to {TEST_SIZE - 1}")


# Each field is one training option: its Option (core/options.py) holds the
# flag, help, panel, choices and range that `aekl train`, `aekl sweep`,
# `aekl-tui`, the app's form and the launcher are made from.
@dataclass
class AEConfig:
    # size of the code z; 2 lets us plot it directly (the model as a whole is bounded by MAX_PARAMS)
    latent: int = option(2, "Latent (code) size.", MODEL, "latent", flags=("--latent", "-z"), low=1)
    # encoder widths; the decoder mirrors them
    hidden: tuple[int, ...] = option((512, 256), f"Encoder hidden widths, e.g. 512,256 (at most {MAX_LAYERS} layers; "
                                     f"the model at most {MAX_PARAMS:,} parameters).", MODEL, "hidden", low=1,
                                     rule="sizes must be positive")
    # SiLU rather than ReLU: measured with adam_beta2 0.95 on three seeds, the
    # default run ended at test MSE 0.139-0.140 instead of 0.142-0.144 and
    # reached 0.150 an epoch or two sooner, for about 6% more per step (docs/performance.md, "The recipe").
    activation: str = option("silu", "Hidden nonlinearity.", MODEL, "act", choices=ACTIVATIONS)
    kind: str = option("ae", "Model kind: plain autoencoder or VAE.", MODEL, "kind", choices=KINDS)
    # VAE only: weight of the KL term against reconstruction
    beta: float = option(1.0, "VAE: weight β of the KL term.", MODEL, "β", low=0, high=MAX_BETA)
    # VAE only: how beta moves during the run (core/nn/schedules.py). "monotonic"
    # ramps from 0 over kl_warmup epochs, then holds (constant when 0);
    # "cyclical" repeats that ramp kl_cycles times (Fu et al. 2019).
    kl_schedule: str = option("monotonic", "VAE: how β moves (cyclical: Fu et al. 2019).", MODEL, "sched",
                              choices=SCHEDULES)
    # epochs of linear KL warm-up (monotonic only); 0 = none
    kl_warmup: float = option(0.0, "VAE: epochs over which β rises from 0 (monotonic; 0 = none; "
                              "at most --epochs).", MODEL, "warm-up", low=0, high=MAX_EPOCHS)
    # cycles over the run for the cyclical schedule (Fu et al. used 4)
    kl_cycles: int = option(4, "VAE: cycles of the cyclical schedule.", MODEL, "cycles", low=1, high=MAX_CYCLES)
    # VAE only: nats per latent dimension the KL term does not charge for
    # (free bits, Kingma et al. 2016): a dimension may carry this much for free.
    free_bits: float = option(0.0, "VAE free bits λ (nats per latent dimension): the KL term charges "
                              "β·Σ_j max(λ, KL_j), so a dimension whose batch-mean KL is below λ costs a flat λ "
                              "and feels no KL gradient.", MODEL, "free bits", low=0, high=MAX_FREE_BITS)
    epochs: int = option(12, "Passes over the training set.", TRAINING, "epochs", low=1, high=MAX_EPOCHS)
    # large batches keep the matmuls efficient on CPU
    batch_size: int = option(256, "Images per step.", TRAINING, "batch", low=1, high=TRAIN_SIZE)
    # peak learning rate of the one-cycle schedule
    lr: float = option(3e-3, "Peak learning rate (warm-up, then cosine decay).", TRAINING, "lr",
                       low=0, low_open=True, high=MAX_LR)
    # Fraction of all steps spent ramping the lr up. 0.1 measured best here:
    # test MSE 0.150 after 6 epochs instead of 7, and a lower final MSE.
    warmup: float = option(0.1, "Fraction of all steps that ramp the learning rate up.", TRAINING, "lr warm",
                           low=0, high=1, high_open=True, rule="must be a fraction in [0, 1)")
    # Adam's second-moment decay. 0.95 rather than torch's 0.999: the step sizes
    # follow the gradients' scale within ~20 steps instead of ~1,000, which
    # with the short warm-up and cosine decay here reached test MSE 0.150
    # sooner and ended lower; 0.9 and 0.99 measured about the same (docs/performance.md, "The recipe").
    adam_beta2: float = option(0.95, "Adam's β2, the decay of its squared-gradient average (torch's default "
                               "is 0.999).", TRAINING, "adam β2", low=0, high=1, high_open=True,
                               rule="must be a fraction in [0, 1)")
    # Report a running average of the recent weights (core/nn/average.py): on the
    # default run it reached test MSE 0.150 in 4 epochs instead of 5-6 and ended
    # at the same MSE (docs/performance.md, "Weight averaging").
    average: bool = option(True, "Evaluate, draw and save a running average of the recent weights "
                           "(about the last 5% of steps); the trained weights are kept for resuming.",
                           TRAINING, "average", flags=("--average/--no-average",))
    # seeds init, batch order and VAE noise: same seed, same run
    seed: int = option(0, "Seed for init, batch order and noise.", TRAINING, "seed", low=0, high=MAX_SEED)
    # auto = cuda > mps > cpu
    device: str = option("auto", "Where to train: auto = cuda > mps > cpu.", TRAINING, "device",
                         choices=DEVICES, rule=f"is not a device aekl knows; choose {', '.join(DEVICES)}",
                         on_resume=True)
    # CUDA only, plain AE: replay the whole step as one CUDA graph (core/engine/graphstep.py).
    # Off by default until measured on a GPU; results match the eager path to float tolerance.
    cuda_graphs: bool = option(False, "CUDA, plain AE: replay each training step as one CUDA graph.", TRAINING,
                               "graphs", flags=("--cuda-graphs/--no-cuda-graphs",))
    # Arithmetic of the matmuls (core/engine/precision.py): "bf16" autocasts them to
    # bfloat16 (weights, Adam and the loss stay fp32); "auto" picks bf16 where the
    # hardware runs it natively (AVX512-BF16/AMX CPUs, bf16 tensor cores), else fp32.
    precision: str = option("auto", "The matmuls' arithmetic (bf16: autocast, fp32 weights, Adam and loss); "
                            "auto = bf16 where the hardware has it natively.", TRAINING, "precision",
                            choices=PRECISIONS)
    # torch CPU threads; 0 keeps torch's default. At most MAX_THREADS anywhere, and
    # at most the CPUs this process may use where it trains (validate(here=True)).
    threads: int = option(0, "CPU threads for torch (0 = torch's default; at most the CPUs this process may use).",
                          TRAINING, "threads", low=0, high=MAX_THREADS, on_resume=True)
    # use only the first N training images (None: all)
    subset: int | None = option(None, "Train on the first N training images only.", TRAINING, "subset",
                                low=1, high=TRAIN_SIZE)
    # test images where the interpolation starts and ends (None: picked from the test set)
    interp_from: int | None = option(None, "Test image where the interpolation starts.", INTERP, "from",
                                     flags=("--from-index",), **_INDEX)
    interp_to: int | None = option(None, "Test image where the interpolation ends.", INTERP, "to",
                                   flags=("--to-index",), **_INDEX)
    # intermediate frames between the two endpoints
    interp_steps: int = option(8, "Intermediate interpolation frames.", INTERP, "frames", flags=("--steps",),
                               low=5, high=MAX_INTERP_STEPS)

    def validate(self, here: bool = False) -> "AEConfig":
        """Raise BadInput (naming the field) for a value no run can use; return self.

        `here`: also check what depends on this machine (threads against the
        CPUs this process may use): for a run about to start here, not for a
        config read from a run folder that may come from another machine.
        """
        for name, o in OPTIONS.items():
            value = getattr(self, name)
            if not has_kind(value, KINDS_OF[name]):
                rule = "must be a list of integers" if name == "hidden" else f"must be {WORDS[KINDS_OF[name].base]}"
                raise BadInput(field=name, value=value, rule=rule)
            check_value(name, o, value)
        if not self.hidden:
            raise BadInput(field="hidden", value=list(self.hidden), rule="sizes must be positive")
        if len(self.hidden) > MAX_LAYERS:
            raise BadInput(field="hidden", value=len(self.hidden), rule=f"allows at most {MAX_LAYERS} layers")
        params = self.param_count()
        if params > MAX_PARAMS:
            raise BadInput(field="hidden" if self.latent <= max(self.hidden) else "latent",
                           rule=f"gives a model of {params:,} parameters (latent size {self.latent}, hidden sizes "
                                f"{list(self.hidden)}); at most {MAX_PARAMS:,} are allowed")
        if self.kl_warmup > self.epochs:
            raise BadInput(field="kl_warmup", value=self.kl_warmup,
                           rule=f"must be between 0 and the run's {self.epochs} epochs")
        if self.kl_warmup and self.kl_schedule == "cyclical":
            raise BadInput(field="kl_warmup", value=self.kl_warmup,
                           rule="must be 0 with the cyclical schedule (each cycle has its own ramp)")
        if here and self.threads > usable_cpus():
            raise BadInput(field="threads", value=self.threads,
                           rule=f"must be at most {usable_cpus()}, the CPUs this process may use")
        return self

    def param_count(self) -> int:
        """Weights and biases of the encoder and decoder, computed without torch."""
        out = 2 * self.latent if self.kind == "vae" else self.latent
        enc = [IMAGE_DIM, *self.hidden, out]
        dec = [self.latent, *reversed(self.hidden), IMAGE_DIM]
        return sum((a + 1) * b for sizes in (enc, dec) for a, b in zip(sizes[:-1], sizes[1:]))

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

    @classmethod
    def from_file(cls, path: "str | os.PathLike[str]") -> "AEConfig":
        """A config file (a run's config.json, or one written by hand), read as untrusted input."""
        from core.errors import RunError
        from core.runfolder.reading import read_json_file  # (the run folder's bounded reader imports this module)

        path = user_path(path, "config")
        try:
            data = read_json_file(path, follow=True)  # a file the user names may be a link
        except RunError as exc:
            raise BadInput(field="config", rule=str(exc)) from None  # "--config runs/x/config.json is missing"
        return cls.from_dict(data, source=str(path))

    @property
    def tag(self) -> str:
        return f"{self.kind}-z{self.latent}"


@dataclass
class Places:
    """Where run folders go and MNIST comes from: options of the commands that train or read runs."""

    runs_dir: Path = option(RUNS_DIR, "Folder that holds run folders.", FOLDER, "runs", flags=("--out", "--runs-dir"))
    data_dir: Path | None = option(None, "MNIST root (default: the bundled copy, via the cache).", FOLDER, "data")


OPTIONS = options_of(AEConfig)  # field name -> Option, in the order --help and the form show them
KINDS_OF = kinds_of(AEConfig)
PLACES = options_of(Places)


def cli_params(names: Iterable[str] | None = None, skip: Iterable[str] = ()) -> list[Param]:
    """The training options `names` (default: all) as command-line parameters, AEConfig's defaults."""
    default = AEConfig()
    return [cli_param(n, OPTIONS[n], KINDS_OF[n], getattr(default, n))
            for n in (OPTIONS if names is None else names) if n not in set(skip)]


def place_params(runs_help: str | None = None) -> list[Param]:
    """--out (with this command's own help, if given) and --data-dir."""
    kinds, default = kinds_of(Places), Places()
    params = [cli_param(n, o, kinds[n], getattr(default, n)) for n, o in PLACES.items()]
    return [replace(p, help=runs_help) if runs_help and p.name == "runs_dir" else p for p in params]


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which a container or taskset narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def flag_for(field: str) -> str:
    """The command-line flag of a field: the table's first, else "--" + the dashed name."""
    o = OPTIONS.get(field) or PLACES.get(field)
    if o is not None and o.flags:
        return o.flags[0].split("/")[0]
    return "--" + field.replace("_", "-")


def cli_message(exc: AeklError) -> str:
    """An error as a command line words it: a field is called by its flag."""
    return exc.worded(flag_for(exc.field)) if exc.field else exc.message


def config_with(base: AEConfig, given: dict[str, Any], here: bool = False) -> AEConfig:
    """`base` with the options in `given` replaced, checked; list options may come as text ("512,256")."""
    values = {}
    for name, value in given.items():
        if name not in OPTIONS:
            raise BadInput(f"{name} is not a training option")
        kind = KINDS_OF[name]
        values[name] = parse_text(name, kind, value) if isinstance(value, str) and kind.base is not str else value
    return replace(base, **values).validate(here=here)


def option_text(config: AEConfig, name: str) -> str:
    """A field's value as text (a form field, a command line), read back by config_with."""
    return shown(KINDS_OF[name], getattr(config, name))


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
    if not text.strip():  # Path("") is ".": an empty --out would write into the current folder
        raise BadInput(field=field, value=text, rule="must not be empty")
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
