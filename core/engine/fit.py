"""The training engine: one generator of typed events that the CLI, the TUI
(through the run folder), sweep and bench all consume.

    for event in fit(config, data, run=run, should_stop=flag.is_set):
        ...  # Started, Progress*, EpochEnd per epoch, then Finished or Stopped

Speed comes from what the loop does not do: MNIST sits on the device as one
tensor and batches are index slices of a permutation (no DataLoader, no PIL),
and the loss is summed on the device and read back only every few steps, so
a GPU is never made to wait for the host inside an epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from core.nn.schedules import beta_at
from core.config import AEConfig
from core.data.mnist import MNIST
from core.nn.elbo import epoch_fields
from core.errors import AeklError, BadInput, RunError, TrainingDiverged, TrainingFailed
from core.events import EpochEnd, Event, Finished, Progress, Started, Stopped
from core.engine.resume import check_checkpoint, check_same_config
from core.runfolder.journal import Journal, NullJournal
from core.nn.latent import interpolation_pair, line_frames
from core.nn.average import WeightAverage
from core.nn.models import AutoEncoder, build_model, count_params
from core.runfolder.runs import Run
from core.engine import precision as arith
from core.engine.heap import keep_freed_memory

SCATTER_SIZE = 2000  # test images whose codes every EpochEnd carries
EVAL_BATCH = 2500
# An autoencoder's epochs before the last are evaluated on every 5th test
# image (the 2,000 whose codes the scatter shows), its last epoch on all
# 10,000: a full pass costs about 5% of a bf16 epoch, the probe 1%. Strided,
# not the first 2,000: MNIST's first 5,000 test digits are the tidier half.
PROBE_STRIDE = 5


def lr_at(step: int, total: int, peak: float, warmup: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to 1% of it.

    A pure function of the global step, so a resumed run picks up exactly the
    schedule of an uninterrupted one without scheduler state.
    """
    warm = max(1, int(total * warmup))
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return peak * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0))))


def evaluate(model: AutoEncoder, x: torch.Tensor, precision: str = "fp32") -> dict[str, float]:
    """Mean losses over `x` in large batches; deterministic (VAE decodes the mean)."""
    return evaluate_and_encode(model, x, 0, precision)[0]


@torch.inference_mode()
def evaluate_and_encode(model: AutoEncoder, x: torch.Tensor, keep: int,
                        precision: str = "fp32") -> tuple[dict[str, float], torch.Tensor]:
    """evaluate(), and the codes of the first `keep` images of `x` from the same pass,
    with the matmuls in `precision` (the run's own)."""
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    codes = []
    for start in range(0, len(x), EVAL_BATCH):
        xb = x[start : start + EVAL_BATCH]
        with arith.autocast(precision, x.device):
            parts, z = model.losses_and_codes(xb)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0) + v.float() * len(xb)
        if start < keep:
            codes.append(z[: keep - start].float())
    model.train(was_training)
    return {k: float(v) / len(x) for k, v in sums.items()}, torch.cat(codes) if codes else x.new_zeros(0)


def uses_graphs(config: AEConfig, device: torch.device) -> bool:
    """CUDA graphs when asked for, on CUDA, for the plain autoencoder (core/engine/graphstep.py)."""
    return config.cuda_graphs and device.type == "cuda" and config.kind == "ae"


def uses_hand_step(config: AEConfig, model: torch.nn.Module, device: torch.device) -> bool:
    """The hand-written step (core/engine/handstep.py): the plain autoencoder on the CPU."""
    from core.engine.handstep import layers_of
    from core.nn.adam import kernel_works

    return device.type == "cpu" and config.kind == "ae" and layers_of(model) is not None and kernel_works(device)


def make_optimizer(model: torch.nn.Module, config: AEConfig, device: torch.device):
    """Adam for `model`; for the hand-written step a FlatAdam, which first moves the
    model's parameters into one buffer (their values and the state dict unchanged)."""
    betas = (0.9, config.adam_beta2)
    if uses_graphs(config, device):
        from core.engine.graphstep import graph_optimizer

        return graph_optimizer(model, config.lr, device, betas)
    if uses_hand_step(config, model, device):
        from core.nn.adam import FlatAdam, flatten

        return FlatAdam(model.parameters(), flatten(model.parameters()), config.lr, betas)
    # The fused kernel updates all parameters in one pass on CPU and CUDA;
    # core.nn.adam runs it without torch.optim's start-up cost where it can (see there).
    if device.type in ("cpu", "cuda"):
        from core.nn.adam import adam

        return adam(model.parameters(), config.lr, device, betas)
    return torch.optim.Adam(model.parameters(), lr=config.lr, betas=betas, foreach=True)


def is_flat(opt) -> bool:
    from core.nn.adam import FlatAdam

    return isinstance(opt, FlatAdam)


def preflight(config: AEConfig, data: MNIST) -> tuple[int, int]:
    """Every check that needs the data, done before any file is written.

    Returns the test indices of the interpolation endpoints.
    """
    config.validate()
    n = len(data.train_x)
    if config.batch_size > n:
        raise BadInput(field="batch_size", value=config.batch_size, rule=f"must not exceed the {n} training images")
    return interpolation_pair(data.test_y, config.interp_from, config.interp_to)


@dataclass
class TrainState:
    """Everything besides the weights that a resume needs to continue exactly."""

    epoch: int  # epochs fully done
    step: int  # steps done in the current epoch
    perm: torch.Tensor | None  # this epoch's batch order; None between epochs
    sums: torch.Tensor  # (3,) loss, mse, kl summed over this epoch's steps, on the device
    order_rng: torch.Generator  # batch order, on the CPU
    noise_rng: torch.Generator  # VAE samples, on the device

    @classmethod
    def fresh(cls, config: AEConfig, device: torch.device) -> "TrainState":
        return cls(0, 0, None, torch.zeros(3, device=device),
                   torch.Generator().manual_seed(config.seed),
                   torch.Generator(device=device).manual_seed(config.seed + 1))

    def checkpoint(self, model, opt, config: AEConfig, average: WeightAverage | None = None) -> dict:
        # "model" is what the run reports (the average, when it keeps one), so every
        # reader of a checkpoint sees the weights its numbers and figures came from.
        weights = {"model": model.state_dict()}
        if average is not None:
            weights = {"model": average.model.state_dict(), "trained_model": model.state_dict()}
        return {
            **weights, "optimizer": opt.state_dict(), "config": config.to_dict(),
            "epoch": self.epoch, "step": self.step,
            # The permutation is kept whenever it was drawn, even at step 0: the
            # order generator has moved past it, so it could not be drawn again.
            "perm": self.perm.cpu() if self.perm is not None else torch.zeros(0, dtype=torch.long),
            "sums": self.sums.cpu(), "order_rng": self.order_rng.get_state(), "noise_rng": self.noise_rng.get_state(),
        }

    def load(self, state: dict, model, opt, steps: int, seed: int, where: str,
             average: WeightAverage | None = None) -> None:
        try:
            if average is not None:
                average.model.load_state_dict(state["model"])
            model.load_state_dict(state["trained_model"] if average is not None else state["model"])
            opt.load_state_dict(state["optimizer"])
            self.order_rng.set_state(state["order_rng"])
            self.epoch, self.step = int(state["epoch"]), int(state["step"])
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise RunError(f"{where} does not fit this model ({str(exc).splitlines()[0][:100]})") from None
        try:
            self.noise_rng.set_state(state["noise_rng"])
        except (RuntimeError, KeyError):
            # Stopped on another kind of device (GPU box -> laptop): a CUDA
            # generator's state means nothing to the CPU's. Continue with noise
            # seeded from the position; bit-equality across devices is out of reach.
            self.noise_rng.manual_seed(seed + 1 + self.epoch * steps + self.step)
        if len(state["perm"]):
            self.perm = state["perm"].to(self.sums.device)
            self.sums = state["sums"].to(self.sums.device)


# Above these the KL term alone can overflow float32 (its largest value is
# about 3e38), whatever the learning rate: the advice names them instead.
HUGE_WEIGHT = 1e30


def divergence_advice(config: AEConfig) -> str:
    """What to change when the loss stopped being a number: the setting that
    can overflow on its own if there is one, else the learning rate."""
    if config.kind == "vae" and not config.beta < HUGE_WEIGHT:
        return f"β = {config.beta:g} is too large for the loss to stay finite; use a smaller --beta"
    if config.kind == "vae" and not config.free_bits < HUGE_WEIGHT:
        return f"free bits = {config.free_bits:g} is too large for the loss to stay finite; use a smaller --free-bits"
    return f"try a lower learning rate than {config.lr:g}"


def _journal(run) -> NullJournal:
    if run is None:
        return NullJournal()
    return run if isinstance(run, NullJournal) else Journal(run)


def fit(config: AEConfig, data: MNIST, *, run: Run | NullJournal | None = None, resume: bool = False,
        should_stop: Callable[[], bool] = lambda: False, progress_every: int | None = None,
        max_steps: int | None = None, precision_why: str | None = None,
        test_all: bool = False, background: dict | None = None) -> Iterator[Event]:
    """Train `config` on `data`, yielding events and recording them in `run`.

    `should_stop` is polled between steps; when it turns true the engine
    finishes the step, writes checkpoint, status and figures, and yields
    Stopped. `resume` continues `run` from its checkpoint to the same weights
    an uninterrupted run would reach. `max_steps` cuts training short (a dry run).
    `precision_why` says why config.precision was chosen when a caller resolved
    "auto" itself (core.engine.session does, so that config.json says what ran).
    `test_all` evaluates every epoch on the whole test set, not only the last
    (bench's time to quality compares test MSEs of the same images).
    `background` ({"data_dir": ...}): a finished run's figures are drawn by a
    child process after the final status (core/figures/background.py), not here.
    Holds the run's lock throughout; any failure after the start is recorded
    as a `failed` status and raised as an AeklError with exit code 1.
    """
    pair = preflight(config, data)
    journal = _journal(run)
    journal.open()
    try:
        yield from _fit(config, data, journal, pair, resume, should_stop, progress_every, max_steps,
                        precision_why, test_all, background)
    finally:
        journal.close()


def _fit(config, data, journal, pair, resume, should_stop, progress_every, max_steps, precision_why, test_all,
         background):
    device, n = data.device, len(data.train_x)
    keep_freed_memory()  # no page faults on each step's fresh buffers (core/engine/heap.py)
    used, why = arith.resolve(config.precision, device)
    if used == "fp32" and arith.allow_tf32(device):
        why += "; TF32 for the fp32 matmuls"
    if config.threads:
        torch.set_num_threads(config.threads)
    steps = n // config.batch_size  # drop the ragged last batch; the permutation varies it
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    opt = make_optimizer(model, config, device)
    average = WeightAverage(model, getattr(opt, "flat", None)) if config.average else None
    state = TrainState.fresh(config, device)
    if resume:
        # Loaded on the CPU: generator states must stay CPU byte tensors, and
        # load_state_dict copies the weights and Adam moments to the device.
        saved, where = journal.restore(), f"{journal.place}/checkpoint.pt"
        check_same_config(saved.get("config"), config.to_dict(), where)  # first: it says why the rest may not fit
        check_checkpoint(saved, config.epochs, steps, n, where, config.average)
        if saved["epoch"] >= config.epochs:
            raise RunError(f"{journal.place} already finished its {config.epochs} epochs")
        state.load(saved, model, opt, steps, config.seed, where, average)
        journal.rewind(state.epoch, state.step)  # only now: a refused checkpoint changes nothing
    began = time.perf_counter()
    started = Started(journal.run_dir, config, str(device), count_params(model), n, steps, state.epoch, state.step,
                      used, precision_why or why)
    journal.started(started)
    yield started
    loop = _Loop(config, data, model, opt, state, steps, steps * config.epochs, progress_every or max(1, steps // 20),
                 used, average)
    loop.precision_note, loop.test_all = f"{used} ({started.precision_why})", test_all
    # Where a failure happened, for its message: the files of a finished epoch
    # are written after the counter moved on, so "in epoch N+1" would be false.
    where = lambda: f"in epoch {state.epoch + 1}"  # noqa: E731
    try:
        for event in loop.run(should_stop, max_steps, pair):
            if isinstance(event, Progress):
                journal.progress(event)
            elif isinstance(event, EpochEnd):
                where = lambda: f"while saving epoch {event.epoch}"  # noqa: E731
                journal.epoch_end(event, state.checkpoint(model, opt, config, average))
                where = lambda: f"in epoch {state.epoch + 1}"  # noqa: E731
            yield event
        where = lambda: f"while writing the final files after epoch {state.epoch}"  # noqa: E731
        yield _last(loop, journal, pair, began, background)
    except KeyboardInterrupt:  # a second Ctrl-C: no time for a checkpoint, but say so
        journal.interrupted(state.epoch, state.step)
        raise
    except (AeklError, OSError, RuntimeError, MemoryError) as exc:
        # Diverged, disk full, out of memory: the run failed (exit 1), and says why.
        reason = exc.message if isinstance(exc, AeklError) else _reason(exc)
        journal.failed(state.epoch, state.step, reason)
        if isinstance(exc, TrainingFailed):
            raise
        raise TrainingFailed(f"training failed {where()}: {reason}") from None


def _last(loop: "_Loop", journal: NullJournal, pair, began: float, background: dict | None) -> Stopped | Finished:
    """Write the final files, then the status that announces them: a reader that
    sees "stopped" or "finished" finds the checkpoint and figures in place, or,
    with `background`, a status saying the figures are being drawn."""
    s, model, opt, config = loop.state, loop.model, loop.opt, loop.config
    if loop.stopped:
        journal.save_checkpoint(s.checkpoint(model, opt, config, loop.average))
    elif background is not None and isinstance(journal, Journal):
        from core.figures import background as child
        from core.runfolder.lock import held_fd

        run, seconds = journal.run, time.perf_counter() - began
        files = child.figure_files(run, config)
        try:
            child.spawn(str(run.path), pair, background.get("data_dir"), held_fd(run.path))
        except OSError:  # no process to spare: draw them here after all
            journal.figures(_figures(loop.shown, loop.data, config, pair))
            journal.finished(s.epoch, {"seconds": round(seconds, 3), "files": files})
        else:
            journal.finished(s.epoch, {"seconds": round(seconds, 3), "files": files, "figures": child.DRAWING})
        return Finished(journal.run_dir, s.epoch, loop.last_test_mse, seconds, files, loop.precision_note)
    quick = loop.stopped and not journal.figures_on_stop
    files = {} if quick else journal.figures(_figures(loop.shown, loop.data, config, pair))
    if loop.stopped:
        journal.stopped(s.epoch, s.step, files)
        return Stopped(journal.run_dir, s.epoch, s.step, files)
    seconds = time.perf_counter() - began
    journal.finished(s.epoch, {"seconds": round(seconds, 3), "files": files})
    return Finished(journal.run_dir, s.epoch, loop.last_test_mse, seconds, files, loop.precision_note)


def _reason(exc: BaseException) -> str:
    lines = str(getattr(exc, "strerror", None) or exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:160]


def _figures(model, data, config, pair):
    def draw(run: Run) -> dict[str, str]:
        from core.figures.plots import save_run_figures

        return save_run_figures(run, model, data, config, pair)

    return draw


class _Loop:
    """The epochs and steps themselves; state lives in TrainState so it can be saved."""

    def __init__(self, config, data, model, opt, state: TrainState, steps: int, total: int, every: int,
                 precision: str = "fp32", average: WeightAverage | None = None):
        self.config, self.data, self.model, self.opt, self.state = config, data, model, opt, state
        self.average = average
        # the model that is evaluated, drawn and reported: the average when there is one
        self.shown = model if average is None else average.model
        self.steps, self.total, self.every, self.precision = steps, total, every, precision
        self.stopped, self.test_all = False, False
        self.last_test_mse = float("nan")
        self.graph = self.hand = None
        if uses_graphs(config, data.device):
            from core.engine.graphstep import GraphStep

            self.graph = GraphStep(model, opt, data, state, config.batch_size, precision)
        elif is_flat(opt):
            from core.engine.handstep import HandStep

            self.hand = HandStep(model, opt, precision)

    def run(self, should_stop, max_steps, pair) -> Iterator[Progress | EpochEnd]:
        s, cfg = self.state, self.config
        done = s.epoch * self.steps + s.step
        self.model.train()
        while s.epoch < cfg.epochs:
            if s.perm is None:
                s.perm = torch.randperm(len(self.data.train_x), generator=s.order_rng).to(s.sums.device, non_blocking=True)
            window, window_steps, window_start = torch.zeros((), device=s.sums.device), 0, time.perf_counter()
            epoch_start, first_step = time.perf_counter(), s.step
            while s.step < self.steps:
                if should_stop():
                    self.stopped = True
                    return
                self.model.beta = beta_at(done, self.steps, cfg)  # VAE: the KL weight of this step
                window += self._step(lr_at(done, self.total, cfg.lr, cfg.warmup))
                s.step, done, window_steps = s.step + 1, done + 1, window_steps + 1
                if self.average is not None:
                    self.average.update(done, last=done == self.total)
                if s.step % self.every == 0 or s.step == self.steps:
                    mean = self._finite(float(window) / window_steps, "loss")  # the one sync per window
                    rate = window_steps * cfg.batch_size / max(time.perf_counter() - window_start, 1e-9)
                    yield Progress(s.epoch + 1, s.step, self.steps, mean, rate)
                    window.zero_()
                    window_start, window_steps = time.perf_counter(), 0
                if max_steps is not None and done >= max_steps:
                    break
            yield self._epoch_end(time.perf_counter() - epoch_start, s.step - first_step, pair)
            if max_steps is not None and done >= max_steps:
                return

    def _step(self, lr: float) -> torch.Tensor:
        s, cfg = self.state, self.config
        if self.graph is not None:
            return self.graph(lr, s.step * cfg.batch_size)[0]
        for group in self.opt.param_groups:
            group["lr"] = lr
        xb = self.data.batch(s.perm[s.step * cfg.batch_size : (s.step + 1) * cfg.batch_size])
        if self.hand is not None:
            out = self.hand(xb)
        else:
            with arith.autocast(self.precision, xb.device):  # the loss itself is fp32 (autocast's rule for mse_loss)
                parts = self.model.losses(xb, s.noise_rng)
            self.opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            self.opt.step()
            out = torch.stack([parts["loss"], parts["mse"], parts.get("kl", parts["mse"] * 0)]).detach()
        # Accumulate on the device: no .item(), so no host sync per step.
        s.sums += out
        return out[0]

    def _finite(self, value: float, what: str) -> float:
        """The one divergence check, for the training and the test loss alike."""
        if not math.isfinite(value):
            raise TrainingDiverged(f"the {what} became {value} in epoch {self.state.epoch + 1}; "
                                   + divergence_advice(self.config))
        return value

    def _test_images(self) -> torch.Tensor | None:
        """Indices of the test images this epoch is evaluated on; None: all of them."""
        last = self.state.epoch + 1 >= self.config.epochs
        if last or self.test_all or self.config.kind != "ae":  # a VAE's ELBO parts are over the whole test set
            return None
        return torch.arange(0, len(self.data.test_x), PROBE_STRIDE, device=self.data.device)

    def _epoch_end(self, seconds: float, ran: int, pair) -> EpochEnd:
        s, cfg, data, model = self.state, self.config, self.data, self.shown
        if model is not self.model and hasattr(self.model, "beta"):
            model.beta = self.model.beta  # VAE: the average's test loss weighs KL as the last step did
        train = (s.sums / max(s.step, 1)).tolist()
        probe = self._test_images()
        evaluated = len(data.test_x) if probe is None else len(probe)
        if probe is None:  # the whole test set; the scatter still shows the probe's codes
            probe = torch.arange(0, len(data.test_x), PROBE_STRIDE, device=data.device)
            test, codes = evaluate_and_encode(model, data.test_x, len(data.test_x))
            codes = codes[probe]
        else:
            # A probe is a progress reading, so it is taken in the run's own arithmetic
            # (bf16: a third of fp32's time); the last epoch's figure over all images stays fp32.
            test, codes = evaluate_and_encode(model, data.test_x[probe], len(probe), self.precision)
        self._finite(test["loss"], "test loss")
        frames = line_frames(model, data.test_x[list(pair)], cfg.interp_steps)
        s.epoch, s.step, s.perm = s.epoch + 1, 0, None
        s.sums.zero_()
        self.last_test_mse = test["mse"]
        # VAE: the ELBO in parts, the charged KL of the whole test set, and the IWAE bound at the end
        vae = epoch_fields(model, train, test, data.test_x, final=s.epoch >= cfg.epochs)
        return EpochEnd(
            epoch=s.epoch, epochs=cfg.epochs, train_loss=train[0], train_mse=train[1],
            test_loss=vae.pop("test_loss", test["loss"]), test_mse=test["mse"], test_kl=test.get("kl"), seconds=seconds,
            samples_per_s=ran * cfg.batch_size / max(seconds, 1e-9), lr=self.opt.param_groups[0]["lr"],
            codes=codes.cpu().numpy(), labels=data.test_y[probe].cpu().numpy(),
            frames=frames.reshape(-1, 28, 28).cpu().numpy(), pair=pair, test_images=evaluated,
            **vae,
        )
