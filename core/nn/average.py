"""A running average of the weights (Polyak averaging), the model a run reports.

Adam at a high learning rate keeps the weights jittering around the valley
they are in; the average of the recent weights sits nearer its floor. On the
default run (latent 2, SiLU, one seed per row, docs/performance.md, "Weight averaging") the
averaged weights reached test MSE 0.150 in epoch 4 where the trained weights
took 5-6, and ended the 12 epochs at the same MSE (0.1398 against 0.1397):
by then the learning rate has decayed and there is little jitter left.

The weight of the newest weights shrinks as the run goes on, so the average
always covers about the last 5% of the steps taken (the trained weights
themselves early on, a longer stretch later). It is updated every few steps,
which measured the same as every step at a quarter of the cost.

The trained weights still do the training; evaluation, the scatter, the
interpolation, the figures and the checkpoint's "model" are the average.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

EVERY = 4  # steps between updates
# After t steps the newest weights get (WINDOW - 1) / (WINDOW + t) of the
# average: a window of about t / (WINDOW - 1) steps, 5% of the run so far.
# (5 and 10 averaged over too long a stretch early on; 40 was no better.)
WINDOW = 20


class WeightAverage:
    """The averaged copy of `model`; `update(t)` after the t-th step of the run."""

    def __init__(self, model: nn.Module, flat: torch.Tensor | None = None) -> None:
        """`flat`: the one buffer that holds all of `model`'s weights (core.nn.adam.flatten),
        if they are held that way; the average is then one pass over it."""
        self.model = copy.deepcopy(model).requires_grad_(False)
        self._pairs = list(zip(self.model.parameters(), model.parameters()))
        if flat is not None:
            from core.nn.adam import flatten

            self._pairs = [(flatten(self.model.parameters()), flat)]

    @staticmethod
    def weight(step: int, pending: int = EVERY) -> float:
        """How much of the trained weights an update at global step `step` mixes in,
        `pending` steps after the one before."""
        keep = (1 + step) / (WINDOW + step)
        return 1.0 - keep**pending

    @torch.no_grad()
    def update(self, step: int, last: bool = False) -> None:
        """After global step `step`; `last`: the run's final step, which is always taken
        in (a run of fewer than EVERY steps would otherwise report its initial weights).
        Which steps update depends on the step count alone, so a resumed run averages
        exactly as an uninterrupted one."""
        if step % EVERY and not last:
            return
        w = self.weight(step, step % EVERY or EVERY)
        for mean, now in self._pairs:
            mean.lerp_(now, w)
