"""The weight β of the KL term, as a pure function of the global step.

Three shapes, all reading the run's AEConfig:

- monotonic with no warm-up: β is constant (the plain β-VAE objective);
- monotonic with `kl_warmup` epochs: β rises linearly from 0 to `beta` over
  those epochs and then stays (Bowman et al. 2016, "KL annealing");
- cyclical: the run is cut into `kl_cycles` equal cycles; in each, β rises
  linearly from 0 to `beta` over the first half and holds for the second
  half (Fu et al. 2019, with their R = 0.5).

Free bits (Kingma et al. 2016) is not a schedule: it changes what the KL
term charges (see core.nn.models.VAE), not its weight.

No state is kept: a resumed run asks for β at its global step and gets
exactly what an uninterrupted run got there. Kept free of torch.
"""

from __future__ import annotations

SCHEDULES = ("monotonic", "cyclical")
CYCLE_RAMP = 0.5  # fraction of each cycle spent rising (Fu et al.'s R)


def beta_at(step: int, steps_per_epoch: int, config) -> float:
    """β for training step `step` (0-based, counted over the whole run)."""
    peak = config.beta
    if config.kind != "vae":
        return 0.0
    if config.kl_schedule == "cyclical":
        total = steps_per_epoch * config.epochs
        cycle = total / config.kl_cycles
        # each cycle starts at β = 0 (Fu et al.) and reaches the full β after R of it
        t = (step % cycle) / (cycle * CYCLE_RAMP)
        return peak * min(1.0, t)
    ramp = config.kl_warmup * steps_per_epoch
    if ramp <= 0 or step + 1 >= ramp:
        return peak
    return peak * (step + 1) / ramp


MNIST_TRAIN = 60_000


def steps_per_epoch(config) -> int:
    """What the engine runs per epoch for `config` on MNIST (the ragged batch dropped).

    Figures drawn later from a checkpoint (aekl latent) load no training set,
    so they count from the config."""
    images = min(config.subset or MNIST_TRAIN, MNIST_TRAIN)
    return max(1, images // config.batch_size)


def beta_curve(steps_per_epoch: int, config, points: int = 400) -> tuple[list[float], list[float]]:
    """(epochs as fractions, β) sampled along the run, for the loss chart."""
    total = steps_per_epoch * config.epochs
    stride = max(1, total // points)
    steps = list(range(0, total, stride))
    if steps and steps[-1] != total - 1:
        steps.append(total - 1)
    return [(s + 1) / steps_per_epoch for s in steps], [beta_at(s, steps_per_epoch, config) for s in steps]
