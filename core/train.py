"""The training engine: one generator of typed events that the CLI and the TUI both consume.

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
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from core.beta import beta_at
from core.config import AEConfig
from core.data import MNIST
from core.elbo import epoch_fields
from core.errors import BadInput, RunError, TrainingDiverged
from core.latent import encode, interpolation_pair, line_frames
from core.models import AutoEncoder, build_model, count_params
from core.runs import Run, sweep_temp_files

SCATTER_SIZE = 2000  # test images whose codes every EpochEnd carries
EVAL_BATCH = 2500


@dataclass(frozen=True)
class Started:
    run_dir: str | None
    config: dict
    device: str
    params: int
    train_size: int
    steps_per_epoch: int
    start_epoch: int  # epochs already done (non-zero when resuming)
    start_step: int  # steps already done inside the current epoch


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
    codes: np.ndarray = field(repr=False)  # (SCATTER_SIZE, latent) float32
    labels: np.ndarray = field(repr=False)  # (SCATTER_SIZE,) int64
    frames: np.ndarray = field(repr=False)  # (steps + 2, 28, 28) in [-1, 1]
    pair: tuple[int, int] = (0, 1)  # test indices of the interpolation endpoints
    # VAE only (core/elbo.py); defaults so events rebuilt from older rows still load.
    train_kl: float | None = None  # mean KL per image over the epoch's steps
    train_beta_kl: float | None = None  # the KL part of the train objective, times 784
    test_beta_kl: float | None = None  # beta * KL (after free bits) on the test set
    kl_per_dim: tuple[float, ...] = ()  # test KL of each latent dimension; sums to test_kl
    active_units: int | None = None  # dimensions with Var(posterior mean) > 0.01 on test
    beta: float | None = None  # the KL weight in force at the end of the epoch

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
        for key in ("train_kl", "train_beta_kl", "test_beta_kl", "active_units", "beta"):
            if getattr(self, key) is not None:
                row[key] = getattr(self, key)
        if self.kl_per_dim:
            row["kl_per_dim"] = list(self.kl_per_dim)
        return row


@dataclass(frozen=True)
class Finished:
    run_dir: str | None
    epochs: int
    test_mse: float
    seconds: float  # wall time of this call, evaluation and writing included
    files: dict[str, str]


@dataclass(frozen=True)
class Stopped:
    run_dir: str | None
    epoch: int  # epochs fully done
    step: int  # steps done in the interrupted epoch
    files: dict[str, str]


Event = Started | Progress | EpochEnd | Finished | Stopped


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


@torch.inference_mode()
def evaluate(model: AutoEncoder, x: torch.Tensor) -> dict[str, float]:
    """Mean losses over `x` in large batches; deterministic (VAE decodes the mean)."""
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    for start in range(0, len(x), EVAL_BATCH):
        xb = x[start : start + EVAL_BATCH]
        for k, v in model.losses(xb).items():
            sums[k] = sums.get(k, 0) + v * len(xb)
    model.train(was_training)
    return {k: float(v) / len(x) for k, v in sums.items()}


def make_optimizer(model: torch.nn.Module, config: AEConfig, device: torch.device):
    # The fused kernel updates all parameters in one pass; it exists for CUDA
    # and, in recent torch, for CPU too. Fall back to foreach where it does not.
    try:
        return torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=config.lr, foreach=True)


def preflight(config: AEConfig, data: MNIST) -> tuple[int, int]:
    """Every check that needs the data, done before any file is written.

    Returns the test indices of the interpolation endpoints.
    """
    config.validate()
    n = len(data.train_x)
    if config.batch_size > n:
        raise BadInput(f"batch size {config.batch_size} is larger than the {n} training images")
    return interpolation_pair(data.test_y, config.interp_from, config.interp_to)


def fit(
    config: AEConfig,
    data: MNIST,
    *,
    run: Run | None = None,
    resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    progress_every: int | None = None,
    max_steps: int | None = None,
) -> Iterator[Event]:
    """Train `config` on `data`, yielding events; write files into `run` if given.

    `should_stop` is polled between steps; when it turns true the engine
    finishes the step, writes checkpoint, status and figures, and yields
    Stopped. `resume` continues `run` from its checkpoint to the same weights
    an uninterrupted run would reach. `max_steps` cuts training short (--dry-run).
    """
    pair = preflight(config, data)
    device = data.device
    n = len(data.train_x)
    if config.threads:
        torch.set_num_threads(config.threads)
    steps = n // config.batch_size  # drop the ragged last batch; the permutation varies it
    total = steps * config.epochs
    every = progress_every or max(1, steps // 20)

    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    opt = make_optimizer(model, config, device)
    order_rng = torch.Generator().manual_seed(config.seed)  # batch order, on the CPU
    noise_rng = torch.Generator(device=device).manual_seed(config.seed + 1)  # VAE samples

    epoch, step, perm = 0, 0, None
    sums = torch.zeros(3, device=device)  # loss, mse, kl summed over this epoch's steps
    if resume:
        if run is None:
            raise RunError("resume needs a run")
        sweep_temp_files(run)
        # Loaded on the CPU: generator states must stay CPU byte tensors, and
        # load_state_dict copies the weights and Adam moments to the device.
        state = run.load_checkpoint(map_location="cpu")
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise RunError(f"{run.file('checkpoint.pt')} does not fit this model ({str(exc).splitlines()[0][:100]})") from None
        order_rng.set_state(state["order_rng"])
        epoch, step = int(state["epoch"]), int(state["step"])
        try:
            noise_rng.set_state(state["noise_rng"])
        except RuntimeError:
            # Stopped on another kind of device (GPU box -> laptop): a CUDA
            # generator's state means nothing to the CPU's. Continue with
            # noise seeded from the position; bit-equality across devices is
            # out of reach anyway.
            noise_rng.manual_seed(config.seed + 1 + epoch * steps + step)
        if step:
            perm = state["perm"].to(device)
            sums = state["sums"].to(device)
        if epoch >= config.epochs:
            raise RunError(f"run {run.id} already finished its {config.epochs} epochs")
        run.truncate_metrics(epoch)

    def checkpoint(at_epoch: int, at_step: int) -> None:
        if run is None:
            return
        run.save_checkpoint(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "config": config.to_dict(),
                "epoch": at_epoch,
                "step": at_step,
                "perm": perm.cpu() if at_step else torch.zeros(0, dtype=torch.long),
                "sums": sums.cpu(),
                "order_rng": order_rng.get_state(),
                "noise_rng": noise_rng.get_state(),
            }
        )

    def figures() -> dict[str, str]:
        if run is None:
            return {}
        from core.plots import save_run_figures

        return save_run_figures(run, model, data, config, pair)

    began = time.perf_counter()
    if run is not None:
        run.write_status("running", epoch, step)
    yield Started(
        run_dir=str(run.path) if run else None,
        config=config.to_dict(),
        device=str(device),
        params=count_params(model),
        train_size=n,
        steps_per_epoch=steps,
        start_epoch=epoch,
        start_step=step,
    )

    model.train()
    done_steps = epoch * steps + step
    while epoch < config.epochs:
        if perm is None:
            perm = torch.randperm(n, generator=order_rng).to(device, non_blocking=True)
        window = torch.zeros((), device=device)
        window_start, window_steps = time.perf_counter(), 0
        epoch_start, epoch_first_step = time.perf_counter(), step
        while step < steps:
            if should_stop():
                checkpoint(epoch, step)
                run and run.write_status("stopped", epoch, step)
                yield Stopped(str(run.path) if run else None, epoch, step, figures())
                return
            for group in opt.param_groups:
                group["lr"] = lr_at(done_steps, total, config.lr, config.warmup)
            model.beta = beta_at(done_steps, steps, config)  # VAE: the KL weight of this step
            xb = data.train_x[perm[step * config.batch_size : (step + 1) * config.batch_size]]
            parts = model.losses(xb, noise_rng)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            opt.step()
            # Accumulate on the device: no .item(), so no host sync per step.
            detached = torch.stack([parts["loss"], parts["mse"], parts.get("kl", parts["mse"] * 0)]).detach()
            sums += detached
            window += detached[0]
            step, done_steps, window_steps = step + 1, done_steps + 1, window_steps + 1
            if step % every == 0 or step == steps:
                mean = float(window) / window_steps  # the one sync every `every` steps
                if not math.isfinite(mean):
                    run and run.write_status("failed", epoch, step, error="loss diverged")
                    raise TrainingDiverged(
                        f"the loss became {mean} in epoch {epoch + 1}; the last good checkpoint "
                        f"is kept; try a lower learning rate than {config.lr:g}"
                    )
                now = time.perf_counter()
                rate = window_steps * config.batch_size / max(now - window_start, 1e-9)
                yield Progress(epoch + 1, step, steps, mean, rate)
                window.zero_()
                window_start, window_steps = time.perf_counter(), 0
            if max_steps is not None and done_steps >= max_steps:
                break
        seconds = time.perf_counter() - epoch_start
        ran = step - epoch_first_step
        train = (sums / max(step, 1)).tolist()
        test = evaluate(model, data.test_x)
        codes = encode(model, data.test_x[:SCATTER_SIZE])
        frames = line_frames(model, data.test_x[list(pair)], config.interp_steps)
        epoch += 1
        end = EpochEnd(
            epoch=epoch,
            epochs=config.epochs,
            train_loss=train[0],
            train_mse=train[1],
            test_loss=test["loss"],
            test_mse=test["mse"],
            test_kl=test.get("kl"),
            seconds=seconds,
            samples_per_s=ran * config.batch_size / max(seconds, 1e-9),
            lr=opt.param_groups[0]["lr"],
            codes=codes.cpu().numpy(),
            labels=data.test_y[:SCATTER_SIZE].cpu().numpy(),
            frames=frames.reshape(-1, 28, 28).cpu().numpy(),
            pair=pair,
            **epoch_fields(model, train, test, data.test_x),  # VAE: the ELBO in parts
        )
        if not math.isfinite(end.test_loss):
            run and run.write_status("failed", epoch - 1, 0, error="loss diverged")
            raise TrainingDiverged(
                f"the test loss became {end.test_loss} after epoch {epoch}; the last good "
                f"checkpoint is kept; try a lower learning rate than {config.lr:g}"
            )
        step, perm = 0, None
        sums.zero_()
        if run is not None:
            run.append_metrics(end.metrics_row())  # metrics first: a resume truncates extras
            checkpoint(epoch, 0)
            run.write_status("running", epoch, 0)
        yield end
        if max_steps is not None and done_steps >= max_steps:
            break

    files = figures()
    if run is not None:
        run.write_status("finished", epoch, 0)
    yield Finished(
        run_dir=str(run.path) if run else None,
        epochs=epoch,
        test_mse=end.test_mse,
        seconds=time.perf_counter() - began,
        files=files,
    )
