"""The engine on real MNIST (bundled copy): artifacts, learning, determinism, resume."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from core.nn.latent import decode, encode, line_frames, path_points
from core.nn.models import load_trained
from core.runfolder.runs import new_run, open_run
from core.engine.fit import EpochEnd, Finished, Progress, Started, Stopped, fit


def run_all(config, data, **kw):
    return list(fit(config, data, **kw))


@pytest.mark.slow  # trains for epochs
def test_run_writes_every_artifact(tmp_path, mnist_small, tiny_config):
    run = new_run(tiny_config, tmp_path)
    events = run_all(tiny_config, mnist_small, run=run)
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in ends] == [1, 2]

    lines = run.file("metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1, 2]
    assert json.loads(lines[-1])["test_mse"] == pytest.approx(ends[-1].test_mse)
    assert json.loads(run.file("config.json").read_text())["hidden"] == [64, 32]
    assert run.status()["status"] == "finished"

    with np.load(run.file("latents.npz")) as z:
        assert z["codes"].shape == (10_000, 2)
        assert z["labels"].shape == (10_000,)
        assert set(np.unique(z["labels"])) == set(range(10))

    sizes = {name: Image.open(run.file(name)).size for name in
             ("loss.png", "latent.png", "interpolation.png", "reconstructions.png", "manifold.png")}
    # make_grid: n * (28 + 2) + 2 pixels per side, then upscaled without blur
    assert sizes["reconstructions.png"] == ((10 * 30 + 2) * 4, (2 * 30 + 2) * 4)
    assert sizes["manifold.png"][0] >= 700  # a titled figure: the title says how the grid was chosen
    assert sizes["latent.png"][0] >= 700 and sizes["loss.png"][0] >= 600
    # the interpolation strip is wide: 2 originals + 10 frames in one row
    w, h = sizes["interpolation.png"]
    assert w > 5 * h

    state = torch.load(run.file("checkpoint.pt"), weights_only=True)
    assert state["epoch"] == 2 and state["step"] == 0
    assert set(state) >= {"model", "optimizer", "config", "order_rng", "noise_rng"}


def test_event_payloads_have_the_promised_shapes(mnist_small, tiny_config):
    config = replace(tiny_config, latent=3, epochs=1, interp_steps=6)
    events = run_all(config, mnist_small, progress_every=2)
    end = next(e for e in events if isinstance(e, EpochEnd))
    assert end.codes.shape == (2000, 3) and end.labels.shape == (2000,)
    assert end.frames.shape == (8, 28, 28)
    assert end.frames.min() >= -1 and end.frames.max() <= 1  # tanh output
    steps = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in steps] == [2, 4, 6, 8]
    assert all(p.samples_per_s > 0 and np.isfinite(p.loss) for p in steps)


@pytest.mark.slow  # trains for epochs
def test_loss_decreases_on_a_fixed_subset(mnist_small, tiny_config):
    config = replace(tiny_config, epochs=4)
    ends = [e for e in run_all(config, mnist_small) if isinstance(e, EpochEnd)]
    assert ends[-1].train_mse < 0.8 * ends[0].train_mse
    assert ends[-1].test_mse < ends[0].test_mse


@pytest.mark.slow  # trains for epochs
def test_vae_reports_both_parts(mnist_small, tiny_config):
    config = replace(tiny_config, kind="vae", epochs=1)
    end = next(e for e in run_all(config, mnist_small) if isinstance(e, EpochEnd))
    assert end.test_kl is not None and end.test_kl > 0
    # the objective is MSE + beta * KL / 784, evaluated on the mean code
    assert end.test_loss == pytest.approx(end.test_mse + end.test_kl / 784, rel=1e-4)


@pytest.mark.slow  # trains for epochs
def test_same_seed_same_run_and_another_seed_differs(mnist_small, tiny_config):
    a = [e.train_loss for e in run_all(tiny_config, mnist_small) if isinstance(e, EpochEnd)]
    b = [e.train_loss for e in run_all(tiny_config, mnist_small) if isinstance(e, EpochEnd)]
    c = [e.train_loss for e in run_all(replace(tiny_config, seed=1), mnist_small) if isinstance(e, EpochEnd)]
    assert a == b
    assert a != c


# 8 steps an epoch: 11 polls stop at step 3 of epoch 2; 8 polls stop just after
# epoch 2's batch order was drawn, before its first step.
@pytest.mark.slow  # trains for epochs
@pytest.mark.parametrize("polls_before_stop, where", [(11, (1, 3)), (8, (1, 0))])
def test_stop_then_resume_equals_uninterrupted(tmp_path, mnist_small, tiny_config, polls_before_stop, where):
    config = replace(tiny_config, kind="vae", epochs=2)  # VAE: the noise RNG must resume too
    whole = new_run(config, tmp_path, name="whole")
    run_all(config, mnist_small, run=whole)

    parted = new_run(config, tmp_path, name="parted")
    polls = iter(range(10_000))
    events = run_all(config, mnist_small, run=parted, should_stop=lambda: next(polls) >= polls_before_stop)
    stopped = events[-1]
    assert isinstance(stopped, Stopped) and (stopped.epoch, stopped.step) == where
    assert parted.status()["status"] == "stopped"
    assert parted.file("checkpoint.pt").exists() and parted.file("latent.png").exists()
    assert len(parted.metrics()) == 1

    events = run_all(config, mnist_small, run=open_run("parted", tmp_path), resume=True)
    assert isinstance(events[-1], Finished)
    assert (events[0].start_epoch, events[0].start_step) == where

    a, _ = load_trained(whole)
    b, _ = load_trained(parted)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert [m["train_loss"] for m in whole.metrics()] == [m["train_loss"] for m in parted.metrics()]


@pytest.mark.slow  # trains for epochs
def test_a_run_stopped_on_another_kind_of_device_resumes(tmp_path, mnist_small, tiny_config):
    config = replace(tiny_config, kind="vae", epochs=1)
    run = new_run(config, tmp_path)
    polls = iter(range(10_000))
    assert isinstance(run_all(config, mnist_small, run=run, should_stop=lambda: next(polls) >= 2)[-1], Stopped)
    # A CUDA generator's state is 16 bytes (seed, offset); the CPU's is not.
    state = torch.load(run.file("checkpoint.pt"), weights_only=True)
    state["noise_rng"] = torch.zeros(16, dtype=torch.uint8)
    run.save_checkpoint(state)

    events = run_all(config, mnist_small, run=open_run(run.id, tmp_path), resume=True)
    assert isinstance(events[-1], Finished) and events[0].start_step == 2
    assert run.status()["status"] == "finished" and len(run.metrics()) == 1


def test_interpolation_lies_on_the_line(mnist_small, tiny_config):
    torch.manual_seed(0)
    from core.nn.models import build_model

    model = build_model(tiny_config).eval()
    ends = mnist_small.test_x[[0, 1]]
    z0, z1 = encode(model, ends)
    points = path_points(z0, z1, 8)
    assert points.shape == (10, 2)
    assert torch.allclose(points[0], z0) and torch.allclose(points[-1], z1)
    t = torch.linspace(0, 1, 10)[:, None]
    assert torch.allclose(points, z0 + t * (z1 - z0), atol=1e-6)
    frames = line_frames(model, ends, 8)
    assert torch.allclose(frames[0], decode(model, z0[None])[0], atol=1e-5)
    assert torch.allclose(frames[-1], decode(model, z1[None])[0], atol=1e-5)
    # batched and single decodes may take different kernels (16-core boxes): float32 noise only
    assert torch.allclose(frames, decode(model, points), atol=1e-5)


def test_slerp_keeps_endpoints_and_norm_path(mnist_small):
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    p = path_points(z0, z1, 5, "slerp")
    assert torch.allclose(p[0], z0) and torch.allclose(p[-1], z1, atol=1e-6)
    # halfway along the arc the direction is 45 degrees
    mid = path_points(z0, z1, 5, "slerp")[3]
    assert mid[0] > 0 and mid[1] > 0


@pytest.mark.slow  # trains for epochs
def test_cuda_graphs_switch_is_ignored_off_cuda(mnist_small, tiny_config):
    """On the CPU (and for VAEs) --cuda-graphs changes nothing: the eager step runs."""
    from core.engine.fit import uses_graphs

    assert not uses_graphs(replace(tiny_config, cuda_graphs=True), torch.device("cpu"))
    assert not uses_graphs(replace(tiny_config, cuda_graphs=True, kind="vae"), torch.device("cuda"))
    assert uses_graphs(replace(tiny_config, cuda_graphs=True), torch.device("cuda"))
    plain = run_all(replace(tiny_config, epochs=1), mnist_small)
    flagged = run_all(replace(tiny_config, epochs=1, cuda_graphs=True), mnist_small)
    assert [getattr(e, "loss", None) for e in plain] == [getattr(e, "loss", None) for e in flagged]


@pytest.mark.slow  # trains for epochs
@pytest.mark.parametrize("raw", [True, False])  # the OS error itself, or as the run folder's writer words it
def test_a_full_disk_mid_run_fails_with_exit_1_and_says_so(tmp_path, mnist_small, tiny_config, monkeypatch, raw):
    """ENOSPC on the second checkpoint: a failed run (exit code 1), not a usage error,
    and status.json says failed and why; the first epoch's checkpoint is intact."""
    import errno

    from core.errors import ExitCode, RunError, TrainingFailed
    from core.runfolder.runs import Run

    run = new_run(replace(tiny_config, epochs=3), tmp_path, name="full")
    real = Run.save_checkpoint
    calls = []

    def save(self, state):
        calls.append(state["epoch"])
        if len(calls) == 2:
            if raw:
                raise OSError(errno.ENOSPC, "No space left on device")
            raise RunError(f"cannot write {self.file('checkpoint.pt')}: No space left on device")
        return real(self, state)

    monkeypatch.setattr(Run, "save_checkpoint", save)
    with pytest.raises(TrainingFailed) as failed:
        run_all(replace(tiny_config, epochs=3), mnist_small, run=run)
    assert failed.value.exit_code == ExitCode.FAILURE and "No space left on device" in failed.value.message
    status = run.status()
    assert status["status"] == "failed" and "No space left on device" in status["error"]
    assert torch.load(run.file("checkpoint.pt"), weights_only=True)["epoch"] == 1
