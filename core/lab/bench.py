"""Measured speed of the training engine against two references, on this machine.

- engine:   core.engine.fit.fit itself, writing a run folder in a temporary
            directory, timed from outside between its Progress events, after
            a warm-up; the epoch ends met on the way give the per-epoch
            overhead, and the step cut at its seams (step_parts) says what
            the engine spends beyond the floor;
- tutorial: the loop a tutorial writes: torchvision MNIST + ToTensor + Normalize,
            DataLoader(batch_size=128, shuffle=True), Adam(lr=1e-3), .item() per step,
            on the run's MLP with ReLU between its layers, as a tutorial writes it
            (aekl's default is SiLU: a choice of its recipe, not of the exercise);
- floor:    only the torch.mm calls of the same forward and backward passes
            (no bias, activation, loss or optimizer): what the hardware needs
            for this model at all.

All three use the same layer sizes, data and number of samples.
The engine raises glibc's trim threshold for its process (core/engine/heap.py);
that is process-wide, so the tutorial loop measured here after it gets the
same help, which a tutorial in its own process would not: the ratios
understate the engine's lead rather than overstate it.
Every figure is repeated `repeats` times with the three interleaved, so a
noisy neighbour slows all of them alike; ratios are reported from the fastest
repeat of each ("from_min": the machine at its quietest) and from the medians.

Time to quality trains both the engine (default config) and the tutorial
loop until the test MSE first reaches the target, evaluating once per epoch
for both; the times count training only (evaluation excluded for both), the
wall time including evaluation is recorded beside it.

Process figures (core/lab/footprint.py): peak memory of a fresh default training
process against a fresh `import torch`, and its time to the first step.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch.nn import functional as F

from core.lab import footprint
from core.config import AEConfig
from core.errors import BadInput
from core.nn.models import build_model, count_params
from core.runfolder.runs import new_run
from core.engine.fit import EpochEnd, Progress, Started, evaluate, fit

TUTORIAL_BATCH = 128
TUTORIAL_LR = 1e-3
TUTORIAL_ACTIVATION = "relu"
TARGETS = {"engine_vs_floor_max": 1.20, "engine_vs_tutorial_min": 4.0, "time_to_quality_min": 10.0,
           "added_memory_mb_max": 128.0, "first_step_s_max": 3.0, "epoch_overhead_max": 0.05,
           "one_epoch_fixed_s_max": 1.0}
TUI_HOW = (
    "Not measured by aekl bench (it needs two fresh processes per round). Run "
    "`python -m tui.throughput --subset 60000 --epochs 4 --repeat 2`: it alternates `aekl train` "
    "alone and `aekl train` watched by an attached TUI (headless pilot, 80x24, its own process) on the "
    "same config and prints the ratio of their training samples/s."
)


@dataclass
class BenchOptions:
    samples: int | None = None  # images per measurement; None: one pass over the training images
    batch_size: int | None = None  # also measure the engine (and floor) at this batch size
    repeats: int = 3
    processes: int = 2  # fresh-process rounds (memory, time to first step): a default process each
    warmup: int = 20  # steps run before any timing starts
    subset: int | None = None  # train on the first N images (tiny benchmarks, tests)
    device: str = "auto"
    precision: str = "auto"  # of the engine (AEConfig.precision)
    cuda_graphs: bool = False  # of the engine (AEConfig.cuda_graphs)
    threads: int = 0
    seed: int = 0
    quality: bool = False
    target: float = 0.150  # test MSE on [-1, 1] data that "quality" means
    max_epochs: int = 30  # the tutorial gives up after this many epochs
    data_dir: str | None = None


def _sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer read afterwards has seen all of it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _stats(values: list[float]) -> dict:
    return {"runs": [round(v, 6) for v in values], "min": round(min(values), 6),
            "median": round(statistics.median(values), 6)}


# --- the three loops --------------------------------------------------------


def engine_time(config: AEConfig, data, steps: int, warmup: int, root=None) -> tuple[int, float, list]:
    """Seconds for >= `steps` engine steps, timed between fit's events; and
    the per-epoch overhead of every epoch end met on the way.

    An interval counts when it ends in a Progress event: it then holds only
    training steps (index gather, forward, backward, Adam, the loss sum, and
    the one host read per Progress). Intervals that end in EpochEnd hold the
    epoch's end instead: evaluation, scatter codes, interpolation frames and,
    with a run folder under `root`, the history snapshot, metrics row,
    checkpoint and status. Those are the overhead, returned as
    (overhead_s, epoch_train_s) pairs; the engine runs on until it has met
    at least two: the first epoch end also pays one-off costs (the first
    evaluation's kernels for its batch shape, the first checkpoint file),
    which belong to the fixed cost, so the per-epoch figure is taken from
    the later ones.
    """
    per_epoch = len(data.train_x) // config.batch_size
    config = replace(config, epochs=max(config.epochs, math.ceil((warmup + steps) / per_epoch) + 2))
    counted, seconds, done, last_step = 0, 0.0, 0, 0
    overheads: list[tuple[float, float]] = []
    run = new_run(config, root) if root is not None else None
    events = fit(config, data, run=run)
    resumed = time.perf_counter()
    try:
        for event in events:
            arrived = time.perf_counter()
            if isinstance(event, Progress):
                n = event.step - last_step
                if done >= warmup:
                    counted, seconds = counted + n, seconds + arrived - resumed
                done, last_step = done + n, event.step
            elif isinstance(event, (Started, EpochEnd)):
                last_step = 0
                if isinstance(event, EpochEnd):
                    overheads.append((arrived - resumed, event.seconds))
            if counted >= steps and len(overheads) >= 2:
                break
            resumed = time.perf_counter()
    finally:
        events.close()
    return counted, seconds, overheads


def tutorial_dataset(root, subset: int | None):
    from torch.utils.data import Subset
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    ds = datasets.MNIST(str(root), train=True, download=False, transform=tf)
    return Subset(ds, range(subset)) if subset else ds


def tutorial_setup(config: AEConfig, device: torch.device, dataset):
    """Model, optimizer and loader exactly as a tutorial would write them."""
    from torch.utils.data import DataLoader

    torch.manual_seed(config.seed)  # the same initial weights as the engine's
    model = build_model(replace(config, activation=TUTORIAL_ACTIVATION)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=TUTORIAL_LR)
    loader = DataLoader(dataset, batch_size=TUTORIAL_BATCH, shuffle=True)
    return model, opt, loader


def tutorial_steps(model, opt, loader, device) -> Iterator[int]:
    """Train forever, yielding the batch size after each step."""
    while True:
        for x, _ in loader:
            x = x.view(x.size(0), -1).to(device)
            loss = F.mse_loss(model.decoder(model.encoder(x)), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()  # a tutorial logs the loss every step: one host sync each
            yield len(x)


def tutorial_time(config: AEConfig, device, dataset, steps: int, warmup: int) -> tuple[int, int, float]:
    """(steps, samples, seconds) of the tutorial loop, data loading included."""
    model, opt, loader = tutorial_setup(config, device, dataset)
    loop = tutorial_steps(model, opt, loader, device)
    for _ in range(warmup):
        next(loop)
    _sync(device)
    start = time.perf_counter()
    samples = sum(next(loop) for _ in range(steps))
    _sync(device)
    return steps, samples, time.perf_counter() - start


def layer_shapes(config: AEConfig) -> list[tuple[int, int]]:
    """(in, out) of every Linear of the model, encoder then decoder."""
    return [(m.in_features, m.out_features) for m in build_model(config).modules() if isinstance(m, torch.nn.Linear)]


def floor_passes(shapes, batch: int, device, dtype=torch.float32):
    """(forward, backward): just the matmuls of one pass each, on random data, in `dtype`.

    Per layer: forward x @ W.T; backward dW = g.T @ x and, except for the
    first layer (the images need no gradient), dx = g @ W. Outputs are
    preallocated so that nothing but the multiplications is timed.
    """
    gen = torch.Generator(device="cpu").manual_seed(0)
    make = lambda *s: torch.randn(*s, generator=gen).to(device, dtype)  # noqa: E731
    xs = [make(batch, i) for i, _ in shapes]
    ws = [make(o, i) for i, o in shapes]
    gs = [make(batch, o) for _, o in shapes]
    ys = [torch.empty(batch, o, device=device, dtype=dtype) for _, o in shapes]
    dws = [torch.empty(o, i, device=device, dtype=dtype) for i, o in shapes]
    dxs = [torch.empty(batch, i, device=device, dtype=dtype) for i, _ in shapes]

    def forward() -> None:
        for x, w, y in zip(xs, ws, ys):
            torch.mm(x, w.t(), out=y)

    def backward() -> None:
        for k in reversed(range(len(shapes))):
            torch.mm(gs[k].t(), xs[k], out=dws[k])
            if k:
                torch.mm(gs[k], ws[k], out=dxs[k])

    return forward, backward


FLOOR_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def floor_time(shapes, batch: int, steps: int, warmup: int, device, precision: str = "fp32") -> float:
    """Seconds for `steps` passes of just the matmuls of forward + backward in `precision`."""
    forward, backward = floor_passes(shapes, batch, device, FLOOR_DTYPES[precision])
    for _ in range(warmup):
        forward(), backward()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        forward(), backward()
    _sync(device)
    return time.perf_counter() - start


def step_parts(config: AEConfig, data, steps: int, warmup: int) -> dict:
    """Seconds per step of each part of the engine's step, beside the floor's two halves.

    The engine's own step (core.engine.fit._Loop._step) cut at its seams, with a
    device sync at each cut: the batch (gather + scale to [-1, 1]), forward
    with the loss, backward, and the optimizer (lr set + Adam). The floor's
    forward and backward matmuls run interleaved with it, so what the engine
    adds to each half is its difference (bias, activations, tanh, the loss and
    their gradients; autograd's bookkeeping, or in the hand-written step
    (core/engine/handstep.py) the one cast of the weights to bf16 in forward
    and of the gradients back to fp32 in backward).
    """
    from core.engine.fit import is_flat, make_optimizer
    from core.engine.handstep import HandStep
    from core.engine.precision import autocast

    device = data.device
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    opt = make_optimizer(model, config, device)
    hand = HandStep(model, opt, config.precision) if is_flat(opt) else None
    perm = torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(config.seed)).to(device)
    per_epoch = len(data.train_x) // config.batch_size
    floor_fwd, floor_bwd = floor_passes(layer_shapes(config), config.batch_size, device,
                                        FLOOR_DTYPES[config.precision])
    names = ("batch", "forward", "backward", "optimizer", "floor_forward", "floor_backward")
    totals = dict.fromkeys(names, 0.0)
    for i in range(warmup + steps):
        k = i % per_epoch
        marks = [time.perf_counter()]
        xb = data.batch(perm[k * config.batch_size : (k + 1) * config.batch_size])
        _sync(device), marks.append(time.perf_counter())
        if hand is not None:
            hand.forward(xb)
            _sync(device), marks.append(time.perf_counter())
            hand.backward()
            _sync(device), marks.append(time.perf_counter())
        else:
            with autocast(config.precision, device):
                loss = model.losses(xb)["loss"]
            _sync(device), marks.append(time.perf_counter())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            _sync(device), marks.append(time.perf_counter())
        for group in opt.param_groups:
            group["lr"] = config.lr
        opt.step()
        _sync(device), marks.append(time.perf_counter())
        floor_fwd()
        _sync(device), marks.append(time.perf_counter())
        floor_bwd()
        _sync(device), marks.append(time.perf_counter())
        if i >= warmup:
            for name, t0, t1 in zip(names, marks, marks[1:]):
                totals[name] += t1 - t0
    parts = {name: total / steps for name, total in totals.items()}
    if hand is not None:
        parts["matmuls_in_step"] = matmuls_in_step(hand, data, perm, config.batch_size, steps)
    return parts


def matmuls_in_step(hand, data, perm: torch.Tensor, batch: int, steps: int) -> float:
    """Seconds a step spends inside the hand-written step's own matmul calls, over
    `steps` whole steps run back to back as the engine runs them (no floor or
    timer between their parts). On the CPU a matmul returns when it is done."""
    spent = [0.0]
    hand.mm, hand.addmm = _timed(torch.mm, spent), _timed(torch.addmm, spent)
    try:
        per_epoch = len(data.train_x) // batch
        for i in range(steps):
            k = i % per_epoch
            hand(data.batch(perm[k * batch : (k + 1) * batch]))
    finally:
        del hand.mm, hand.addmm  # back to the class's plain torch.mm and torch.addmm
    return spent[0] / steps


def _timed(matmul, spent: list):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = matmul(*args, **kwargs)
        spent[0] += time.perf_counter() - start
        return out

    return timed


def floor_gap(parts: list[dict], engine_step_s: float, floor_step_s: float | None = None) -> dict:
    """What the engine's step spends beyond the floor, in seconds per step and
    as fractions of the floor, from the fastest repeat of each part.

    The step's own matmuls, where they were timed, are set against
    `floor_step_s`, the floor of the headline ratio."""
    best = {k: min(p[k] for p in parts) for k in parts[0]}
    floor = best["floor_forward"] + best["floor_backward"]
    gap = {
        "forward_beyond_matmuls": best["forward"] - best["floor_forward"],
        "backward_beyond_matmuls": best["backward"] - best["floor_backward"],
        "optimizer": best["optimizer"],
        "batch": best["batch"],
    }
    # the engine loop's own time (events, window sums, lr schedule) beside its parts
    gap["loop"] = engine_step_s - (best["batch"] + best["forward"] + best["backward"] + best["optimizer"])
    out = {"step_parts_s": {k: round(v, 7) for k, v in best.items()},
           "gap_s": {k: round(v, 7) for k, v in gap.items()},
           "gap_vs_floor": {k: round(v / floor, 4) for k, v in gap.items()}}
    if "matmuls_in_step" in best and floor_step_s:
        # the same multiplications inside a real step, where other passes have just written
        # their operands, against the floor's repeats of them on operands hot in cache
        out["matmuls_in_step_vs_floor"] = round(best["matmuls_in_step"] / floor_step_s, 4)
    return out


# --- host syncs per step (CUDA) ----------------------------------------------


def count_syncs(config: AEConfig, data, steps: int) -> dict:
    """Count synchronizing CUDA calls inside fit's training steps.

    torch's sync debug mode warns on every call that makes the host wait for
    the GPU (.item(), float(tensor), non-pinned copies ...). Warnings raised
    while fit runs up to a Progress event are attributed to training steps;
    those of evaluation (before EpochEnd) are not.
    """
    if data.device.type != "cuda":
        return {"device": str(data.device), "syncs_per_step": None,
                "note": "no host/device split on the CPU; by design the engine reads the loss "
                        "back once per Progress event (every steps_per_epoch // 20 steps), not per step"}
    syncs, counted, last_step = 0, 0, 0
    events = fit(replace(config, epochs=2), data)
    old = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        while counted < steps:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                event = next(events)
            if isinstance(event, Progress):
                syncs += sum("synchroniz" in str(w.message) for w in caught)
                counted, last_step = counted + event.step - last_step, event.step
            elif isinstance(event, EpochEnd):
                last_step = 0
    except StopIteration:
        pass
    finally:
        torch.cuda.set_sync_debug_mode(old)
        events.close()
    per_step = syncs / max(counted, 1)
    return {"device": str(data.device), "steps": counted, "syncs": syncs, "syncs_per_step": round(per_step, 4),
            "syncs_every_step": per_step >= 1.0}


# --- time to quality ---------------------------------------------------------


def engine_quality(config: AEConfig, data, target: float) -> dict:
    """Train the default run until the test MSE (all 10,000 images, every epoch)
    first reaches `target`; the curve is (epoch, training seconds so far, test MSE)."""
    train_s, start, last, curve = 0.0, time.perf_counter(), None, []
    events = fit(config, data, test_all=True)
    try:
        for event in events:
            if isinstance(event, EpochEnd):
                train_s += event.seconds  # the engine's own epoch time, evaluation excluded
                curve.append([event.epoch, round(train_s, 3), round(event.test_mse, 5)])
                last = event
                if event.test_mse <= target:
                    break
    finally:
        events.close()
    return {"reached": last.test_mse <= target, "epochs": last.epoch, "train_s": round(train_s, 3),
            "wall_s": round(time.perf_counter() - start, 3), "test_mse": last.test_mse, "curve": curve}


def tutorial_quality(config: AEConfig, device, dataset, test_x, target: float, max_epochs: int) -> dict:
    model, opt, loader = tutorial_setup(config, device, dataset)
    per_epoch = len(loader)
    loop = tutorial_steps(model, opt, loader, device)
    train_s, start, curve = 0.0, time.perf_counter(), []
    for epoch in range(1, max_epochs + 1):
        began = time.perf_counter()
        for _ in range(per_epoch):
            next(loop)
        _sync(device)
        train_s += time.perf_counter() - began
        mse = evaluate(model, test_x)["mse"]  # the engine's evaluation in fp32: same images
        curve.append([epoch, round(train_s, 3), round(mse, 5)])
        if mse <= target:
            break
    return {"reached": mse <= target, "epochs": epoch, "train_s": round(train_s, 3),
            "wall_s": round(time.perf_counter() - start, 3), "test_mse": mse, "curve": curve}


# --- the whole benchmark ------------------------------------------------------


def machine(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _ratio(num: dict, den: dict) -> dict:
    """num/den from the fastest repeats, from the medians, and per repeat."""
    return {"from_min": round(num["min"] / den["min"], 4), "from_median": round(num["median"] / den["median"], 4),
            "per_repeat": [round(a / b, 4) for a, b in zip(num["runs"], den["runs"])]}


def _floor_precisions(used: str, device: torch.device) -> list[str]:
    """fp32 always; bf16 where the device multiplies it natively, or where the engine uses it."""
    from core.engine.precision import native_bf16

    return ["fp32"] + (["bf16"] if used == "bf16" or native_bf16(device)[0] else [])


def run_bench(opts: BenchOptions, log: Callable[[str], None] = lambda s: None) -> dict:
    """Measure everything `opts` asks for; return the bench.json object."""
    from core.data.mnist import ensure_data, load_mnist
    from core.engine.precision import resolve
    from core.nn.models import pick_device

    # The default config at latent 2: what the targets are about.
    base = AEConfig(latent=2, device=opts.device, threads=opts.threads, seed=opts.seed, subset=opts.subset,
                    precision=opts.precision, cuda_graphs=opts.cuda_graphs).validate()
    if opts.threads:
        torch.set_num_threads(opts.threads)  # fit would set it too; the references need the same
    device = pick_device(opts.device)
    used, why = resolve(base.precision, device)
    base = replace(base, precision=used)
    loadavg_before = _loadavg()
    data = load_mnist(opts.data_dir, device, opts.subset)
    dataset = tutorial_dataset(ensure_data(opts.data_dir), opts.subset)
    n = len(data.train_x)
    samples = opts.samples or n
    batches = [base.batch_size] + ([opts.batch_size] if opts.batch_size and opts.batch_size != base.batch_size else [])
    for b in batches:  # checked now, not after minutes of measuring
        if b > n:
            raise BadInput(field="batch_size", value=b, rule=f"must be at most the {n} training images")
    m = _measure(opts, base, data, dataset, device, batches, samples, log)
    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(device),
        "precision": {"used": used, "why": why, "floors": _floor_precisions(used, device)},
        "setup": {"latent": 2, "hidden": list(base.hidden), "params": count_params(build_model(base)),
                  "processes": len(m["procs"]),
                  "train_images": n, "samples": samples, "repeats": opts.repeats, "warmup_steps": opts.warmup,
                  "batch_sizes": batches, "tutorial_batch_size": TUTORIAL_BATCH, "tutorial_lr": TUTORIAL_LR,
                  "measured": m["measured"]},
    }
    result.update(_rates(m, batches, n, used))
    result["process"] = process_figures(m["procs"])
    result["epoch_overhead"] = {
        "what": "evaluation (every 5th test image; all of them after the last epoch), scatter codes, "
                "interpolation frames, history snapshot, metrics row, checkpoint, status",
        "seconds": _stats([o for o, _ in m["overheads"]]),
        "fraction": _stats([o / (o + t) for o, t in m["overheads"]]),  # of the whole epoch, overhead included
        "first_epoch_end_s": _stats(m["first_ends"]),  # one-off costs included; not counted above
    }
    result["engine_vs_floor_gap"] = floor_gap(m["parts"], min(m["eng"][base.batch_size]),
                                              min(m["flo"][(used, base.batch_size)]))
    log("host syncs per engine step")
    result["host_sync"] = count_syncs(base, data, min(100, 4 * max(1, n // base.batch_size)))
    result["quality"] = quality(opts, base, data, dataset, device, log, result) if opts.quality else None
    if result["quality"]:
        result["ratios"]["time_to_quality"] = result["quality"]["speedup"]
    result["tui_overhead"] = {"measured": False, "how": TUI_HOW}
    result["targets"] = targets_met(result, base.batch_size)
    result["machine"]["loadavg_before"], result["machine"]["loadavg_after"] = loadavg_before, _loadavg()
    return result


def _measure(opts, base, data, dataset, device, batches, samples, log) -> dict:
    """Every timed loop, `opts.repeats` times, interleaved so a noisy neighbour slows all alike."""
    shapes = layer_shapes(base)
    tut_steps = math.ceil(samples / TUTORIAL_BATCH)
    precisions = _floor_precisions(base.precision, device)
    m: dict = {"eng": {b: [] for b in batches},  # seconds per step
               "flo": {(p, b): [] for p in precisions for b in batches},
               "tut": [],  # seconds per sample (its last batch of an epoch is short)
               "overheads": [], "first_ends": [], "parts": [], "procs": [], "measured": {}}
    part_steps = min(100, math.ceil(samples / base.batch_size))
    for r in range(1, opts.repeats + 1):
        if r <= opts.processes:
            log(f"repeat {r}/{opts.repeats}: a fresh `import torch`, a fresh default `aekl train --epochs 1`, "
                "a fresh tutorial start")
            m["procs"].append((footprint.import_torch(), footprint.train_process(replace(base, epochs=1), opts.data_dir),
                               footprint.tutorial_start(str(ensure_root(opts)), TUTORIAL_BATCH)))
        for b in batches:
            steps = math.ceil(samples / b)
            log(f"repeat {r}/{opts.repeats}: engine ({base.precision}), batch {b}, {steps} steps, writing a run folder")
            with tempfile.TemporaryDirectory(prefix="aekl-bench-") as root:
                done, secs, ends = engine_time(replace(base, batch_size=b), data, steps, opts.warmup, Path(root))
            m["eng"][b].append(secs / done)
            m["measured"][f"engine_steps_{b}"] = done
            if b == base.batch_size:
                m["first_ends"] += [o for o, _ in ends[:1]]
                m["overheads"] += ends[1:]
        log(f"repeat {r}/{opts.repeats}: the engine's step in parts, {part_steps} steps")
        m["parts"].append(step_parts(base, data, part_steps, min(opts.warmup, part_steps)))
        log(f"repeat {r}/{opts.repeats}: tutorial loop, batch {TUTORIAL_BATCH}, {tut_steps} steps")
        _, tut_samples, secs = tutorial_time(base, device, dataset, tut_steps, opts.warmup)
        m["tut"].append(secs / tut_samples)
        m["measured"]["tutorial_samples"] = tut_samples
        for p in precisions:
            for b in batches:
                steps = math.ceil(samples / b)
                log(f"repeat {r}/{opts.repeats}: {p} floor, batch {b}, {steps} steps")
                m["flo"][(p, b)].append(floor_time(shapes, b, steps, opts.warmup, device, p) / steps)
    return m


def ensure_root(opts: BenchOptions) -> Path:
    from core.data.mnist import ensure_data

    return ensure_data(opts.data_dir)


def _rates(m: dict, batches: list[int], n: int, used: str) -> dict:
    """engine, floors and tutorial as rates, and their ratios; "floor" is the floor of the engine's precision."""
    out: dict = {"engine": {}, "floor": {}, "floors": {}, "tutorial": {},
                 "ratios": {"engine_vs_tutorial": None, "engine_vs_floor": {}, "engine_vs_fp32_floor": {}}}

    def rates(per_step: list[float], b: int) -> dict:
        return {"steps_per_s": _stats([1 / s for s in per_step]), "samples_per_s": _stats([b / s for s in per_step]),
                "epoch_s": _stats([s * (n // b) for s in per_step])}

    for b in batches:
        out["engine"][str(b)] = rates(m["eng"][b], b)
        for (p, fb), per_step in m["flo"].items():
            if fb == b:
                out["floors"].setdefault(p, {})[str(b)] = rates(per_step, b)
        out["floor"][str(b)] = out["floors"][used][str(b)]
        # > 1: the engine takes that many times the bare matmul time of its own precision
        out["ratios"]["engine_vs_floor"][str(b)] = _ratio(out["engine"][str(b)]["epoch_s"], out["floor"][str(b)]["epoch_s"])
        out["ratios"]["engine_vs_fp32_floor"][str(b)] = _ratio(out["engine"][str(b)]["epoch_s"],
                                                               out["floors"]["fp32"][str(b)]["epoch_s"])
    out["tutorial"] = {"samples_per_s": _stats([1 / s for s in m["tut"]]), "epoch_s": _stats([s * n for s in m["tut"]])}
    # engine samples/s over tutorial samples/s at the default batch size
    out["ratios"]["engine_vs_tutorial"] = _ratio(out["tutorial"]["epoch_s"], out["engine"][str(batches[0])]["epoch_s"])
    return out


def process_figures(procs: list[tuple[dict, dict, dict]]) -> dict:
    """Fresh processes: memory, start-up, and the one-epoch run's wall time beyond its training."""
    result = {"how": "fresh child processes; peak resident memory is each child's ru_maxrss, read by a bare launcher; "
                     "the training process is `aekl train --config FILE` with the default run for one epoch (its figures are drawn by a "
                     "detached child after it exits, timed apart as figures_after_exit_s); fixed cost = its wall "
                     "time - its training time - a bare `import torch` of the same round",
              "to_first_step_s": _stats([t["to_first_step_s"] for _, t, _ in procs]),
              "to_started_s": _stats([t["to_started_s"] for _, t, _ in procs]),
              "import_torch_s": _stats([i["seconds"] for i, _, _ in procs]),
              "one_epoch_wall_s": _stats([t["total_s"] for _, t, _ in procs]),
              "one_epoch_train_s": _stats([t["train_s"] for _, t, _ in procs]),
              "one_epoch_fixed_s": _stats([t["total_s"] - t["train_s"] - i["seconds"] for i, t, _ in procs]),
              "figures_after_exit_s": _stats([t["figures_s"] for _, t, _ in procs]),
              "tutorial_start_s": _stats([s["seconds"] for _, _, s in procs]),
              "train_peak_mb": None, "import_torch_peak_mb": None, "added_mb": None}
    if all(t["peak_mb"] is not None and i["peak_mb"] is not None for i, t, _ in procs):
        result["train_peak_mb"] = _stats([t["peak_mb"] for _, t, _ in procs])
        result["import_torch_peak_mb"] = _stats([i["peak_mb"] for i, _, _ in procs])
        result["added_mb"] = _stats([t["peak_mb"] - i["peak_mb"] for i, t, _ in procs])
    return result


def quality(opts: BenchOptions, base: AEConfig, data, dataset, device, log, result: dict) -> dict:
    """Both loops to the target test MSE. From process start: the engine's fresh-process
    time to its first step, plus its training and per-epoch overhead; the tutorial's
    fresh-process time to its first batch, plus its training (its evaluation is free)."""
    engine, tutorial = [], []
    for r in range(1, opts.repeats + 1):
        log(f"repeat {r}/{opts.repeats}: engine to test MSE {opts.target} (default config, {base.precision})")
        engine.append(engine_quality(base, data, opts.target))
        log(f"repeat {r}/{opts.repeats}: tutorial loop to test MSE {opts.target} (at most {opts.max_epochs} epochs)")
        tutorial.append(tutorial_quality(base, device, dataset, data.test_x, opts.target, opts.max_epochs))
    proc, overhead = result["process"], result["epoch_overhead"]["seconds"]["median"]
    e_start, t_start = proc["to_first_step_s"]["median"], proc["tutorial_start_s"]["median"]
    e = _stats([e_start + q["train_s"] + overhead * q["epochs"] for q in engine])
    t = _stats([t_start + q["train_s"] for q in tutorial])
    speedup = _ratio(t, e)
    # a side that never got there makes the ratio a bound, not a measurement
    speedup["engine_reached"] = all(q["reached"] for q in engine)
    speedup["tutorial_reached"] = all(q["reached"] for q in tutorial)
    speedup["lower_bound"] = speedup["engine_reached"] and not speedup["tutorial_reached"]
    speedup["training_only"] = _ratio(_stats([q["train_s"] for q in tutorial]), _stats([q["train_s"] for q in engine]))
    return {"target_test_mse": opts.target, "evaluated": "every epoch on all 10,000 test images, both loops",
            "timed": "from process start: start-up (fresh process, median) + training (+ the engine's per-epoch "
                     "overhead); evaluation for the measurement excluded",
            "engine": {"from_start_s": e, "start_s": e_start, "runs": engine},
            "tutorial": {"from_start_s": t, "start_s": t_start, "runs": tutorial},
            "speedup": speedup}


def targets_met(result: dict, batch: int) -> dict:
    r, proc = result["ratios"], result["process"]
    met = {
        "engine_vs_floor": r["engine_vs_floor"][str(batch)]["from_min"] <= TARGETS["engine_vs_floor_max"],
        "engine_vs_tutorial": r["engine_vs_tutorial"]["from_min"] >= TARGETS["engine_vs_tutorial_min"],
    }
    added = proc["added_mb"]
    met["added_memory"] = None if added is None else added["min"] <= TARGETS["added_memory_mb_max"]
    met["first_step"] = proc["to_first_step_s"]["min"] < TARGETS["first_step_s_max"]
    met["one_epoch_fixed"] = proc["one_epoch_fixed_s"]["min"] <= TARGETS["one_epoch_fixed_s_max"]
    met["epoch_overhead"] = result["epoch_overhead"]["fraction"]["min"] <= TARGETS["epoch_overhead_max"]
    if result["quality"]:
        q = r["time_to_quality"]
        met["time_to_quality"] = q["engine_reached"] and q["from_min"] >= TARGETS["time_to_quality_min"]
    return {**TARGETS, "met": met}
