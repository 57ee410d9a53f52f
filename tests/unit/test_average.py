"""The weight average: the running mean the formula defines, what the engine
reports and saves, and a resume that continues it exactly."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from torch import nn

from core.config import AEConfig
from core.data.mnist import load_mnist
from core.engine.fit import evaluate, fit
from core.events import EpochEnd, Finished
from core.nn.average import WeightAverage
from core.nn.models import build_model
from core.runfolder.journal import NullJournal

SUBSET = 512


def test_the_average_follows_the_running_mean_with_a_window_of_a_twentieth_of_the_run():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    average = WeightAverage(model)
    # Written here from the definition: every 4th step t, mix in (1 - ((1 + t) / (20 + t))^4)
    # of the current weights; in between, the average stays as it was.
    expected = [p.detach().clone() for p in model.parameters()]
    for t in range(1, 41):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        average.update(t)
        if t % 4 == 0:
            keep = ((1 + t) / (20 + t)) ** 4
            expected = [keep * e + (1 - keep) * p.detach() for e, p in zip(expected, model.parameters())]
        for got, want in zip(average.model.parameters(), expected):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # the average trails the weights: it is not a copy of them, and it takes no gradient
    assert not torch.equal(average.model.weight, model.weight)
    assert not any(p.requires_grad for p in average.model.parameters())


def test_the_first_update_is_almost_the_weights_themselves():
    model = nn.Linear(4, 4)
    average = WeightAverage(model)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average.update(4)
    # (5 / 24)^4 of the initial weights is left: 0.2%
    assert torch.allclose(average.model.weight, torch.ones(4, 4), atol=0.01)


class Memory(NullJournal):
    """A journal that keeps the latest checkpoint in memory (no files, no figures)."""

    saved: dict | None = None

    def epoch_end(self, event, checkpoint: dict) -> None:
        self.saved = copy.deepcopy(checkpoint)  # the live tensors move on; torch.save would copy too

    def save_checkpoint(self, checkpoint: dict) -> None:  # a stop's
        self.saved = copy.deepcopy(checkpoint)

    def restore(self) -> dict:
        return copy.deepcopy(self.saved)


CONFIG = AEConfig(hidden=(32,), epochs=2, batch_size=64, subset=SUBSET)


@pytest.fixture(scope="module")
def data():
    return load_mnist(subset=SUBSET)


@pytest.fixture(scope="module")
def whole(data):
    journal = Memory()
    return journal, list(fit(CONFIG, data, run=journal))


def test_the_run_reports_and_saves_the_average_and_keeps_the_trained_weights_for_resuming(data, whole):
    journal, events = whole
    state = journal.saved
    assert set(state["model"]) == set(state["trained_model"])
    assert any(not torch.equal(state["model"][k], state["trained_model"][k]) for k in state["model"])
    # The last epoch's test MSE (all test images) is the saved "model"'s, not the trained weights'.
    averaged, trained = build_model(CONFIG), build_model(CONFIG)
    averaged.load_state_dict(state["model"])
    trained.load_state_dict(state["trained_model"])
    last = [e for e in events if isinstance(e, EpochEnd)][-1]
    assert isinstance(events[-1], Finished) and last.test_images == len(data.test_x)
    assert last.test_mse == pytest.approx(evaluate(averaged, data.test_x)["mse"], rel=1e-5)
    assert last.test_mse != pytest.approx(evaluate(trained, data.test_x)["mse"], rel=1e-5)


def test_without_averaging_the_checkpoint_holds_the_trained_weights_only(data):
    journal, config = Memory(), replace(CONFIG, average=False)
    events = list(fit(config, data, run=journal))
    assert "trained_model" not in journal.saved
    model = build_model(config)
    model.load_state_dict(journal.saved["model"])
    last = [e for e in events if isinstance(e, EpochEnd)][-1]
    assert last.test_mse == pytest.approx(evaluate(model, data.test_x)["mse"], rel=1e-5)


def test_a_stopped_run_resumes_to_the_same_average_and_weights(data, whole):
    parted, seen = Memory(), 0

    def stop() -> bool:  # after step 2 of epoch 2 (global step 10), between two updates of the average
        return seen >= 12

    for event in fit(CONFIG, data, run=parted, should_stop=stop, progress_every=1):
        seen += 1
    assert (parted.saved["epoch"], parted.saved["step"]) == (1, 2)
    list(fit(CONFIG, data, run=parted, resume=True))
    a, b = whole[0].saved, parted.saved
    for key in ("model", "trained_model"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key


def test_a_config_from_before_averaging_keeps_the_trained_weights():
    old = AEConfig().to_dict()
    del old["average"]
    assert AEConfig.from_dict(old).average is False


def test_the_last_step_is_taken_in_with_the_steps_since_the_update_before():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    average = WeightAverage(model)
    start = [p.detach().clone() for p in model.parameters()]
    for t in (1, 2):  # a run of two steps: no regular update (every 4th) falls in it
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        average.update(t, last=t == 2)
    keep = ((1 + 2) / (20 + 2)) ** 2  # two steps pending at step 2
    for got, s, now in zip(average.model.parameters(), start, model.parameters()):
        torch.testing.assert_close(got, keep * s + (1 - keep) * now.detach(), rtol=1e-6, atol=1e-6)


def test_a_run_shorter_than_the_update_interval_reports_its_trained_weights():
    # 512 images at batch 256: two steps. Averaged or not, the reported model has trained.
    data = load_mnist(subset=SUBSET)
    finals = {}
    for average in (True, False):
        config = AEConfig(hidden=(32,), epochs=1, batch_size=256, subset=SUBSET, average=average)
        (done,) = [e for e in fit(config, data, run=NullJournal()) if isinstance(e, Finished)]
        finals[average] = done.test_mse
    torch.manual_seed(0)  # as fit seeds it before building the model: the weights a lagging average showed
    untrained = evaluate(build_model(AEConfig(hidden=(32,))), data.test_x)["mse"]
    # the average is 98% the final weights here: far nearer them than the start
    assert abs(finals[True] - finals[False]) < 0.1 * abs(untrained - finals[False]), (finals, untrained)
