"""What a checkpoint must hold before a resume trusts it.

A checkpoint is read from a run folder, so it is untrusted: a hand edit or a
foreign file can carry a negative epoch or a batch order that is not a
permutation of the training set. Resuming from either would write rows and
snapshots that contradict the run, so it is refused before anything in the
folder changes.
"""

from __future__ import annotations

import torch

from core.errors import RunError


def _count(state: dict, key: str, below: int, where: str) -> int:
    value = state.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RunError(f"{where} is damaged: {key} is {_show(value)}, not a whole number; not resuming")
    if not 0 <= value < below:
        raise RunError(f"{where} is damaged: {key} {value} is outside 0..{below - 1}; not resuming")
    return value


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_checkpoint(state: dict, epochs: int, steps: int, n: int, where: str,
                     averaged: bool = False) -> tuple[int, int]:
    """(epoch, step) of a checkpoint whose counters and batch order fit a run
    of `epochs` epochs of `steps` steps over `n` images, and which holds the
    trained weights beside their average when the run keeps one (`averaged`);
    RunError otherwise.

    An epoch equal to `epochs` passes: that run is finished, which the caller
    says in its own words."""
    if averaged and "trained_model" not in state:
        raise RunError(f"{where} is damaged: it holds the averaged weights but not the trained ones "
                       "(trained_model); not resuming")
    epoch = _count(state, "epoch", epochs + 1, where)
    step = _count(state, "step", max(steps, 1), where)
    perm = state.get("perm")
    if not isinstance(perm, torch.Tensor) or perm.ndim != 1 or perm.dtype != torch.long:
        raise RunError(f"{where} is damaged: it holds no batch order (perm); not resuming")
    if len(perm) == 0:
        if step:
            raise RunError(f"{where} is damaged: step {step} without a batch order; not resuming")
        return epoch, step
    if len(perm) != n or not torch.equal(torch.sort(perm).values, torch.arange(n)):
        raise RunError(f"{where} is damaged: its batch order is not an order of the {n} training images; "
                       "not resuming")
    sums = state.get("sums")
    if not isinstance(sums, torch.Tensor) or sums.shape != (3,) or not sums.dtype.is_floating_point:
        raise RunError(f"{where} is damaged: its epoch sums are missing or malformed; not resuming")
    return epoch, step


# Fields that only say where or how fast a run trains, or what its figures
# show: a resume may differ in them. Every other field shapes the weights.
FREE_FIELDS = {"device", "threads", "cuda_graphs", "interp_from", "interp_to", "interp_steps"}


def check_same_config(saved: object, current: dict, where: str) -> None:
    """RunError if config.json no longer says what the checkpoint was trained
    with (a hand edit of subset, β, ...): continuing would mix two runs."""
    if not isinstance(saved, dict):
        return  # a checkpoint from before aekl kept its config: nothing to compare
    for key, now in current.items():
        if key in FREE_FIELDS or key not in saved:
            continue
        then = saved[key]
        if _plain(then) != _plain(now):
            raise RunError(f"{where} does not fit config.json ({key}: {_show(then)} in the checkpoint, "
                           f"{_show(now)} in config.json; one of them was edited or copied in); not resuming")


def _plain(value):
    return list(value) if isinstance(value, tuple) else value
