"""The CUDA path: training on the GPU, no host sync per step, checkpoints that
load on a CPU-only machine. Skipped where there is no CUDA device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(scope="module")
def mnist_cuda():
    from core.data.mnist import load_mnist

    return load_mnist(device=torch.device("cuda"), subset=2048)


def test_a_run_on_the_gpu_learns_and_its_checkpoint_loads_on_the_cpu(tmp_path, mnist_cuda, tiny_config):
    from core.nn.models import load_trained
    from core.runfolder.runs import new_run
    from core.engine.fit import EpochEnd, Finished, fit

    config = replace(tiny_config, device="cuda", subset=2048, epochs=3)
    run = new_run(config, tmp_path)
    events = list(fit(config, mnist_cuda, run=run))
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert isinstance(events[-1], Finished)
    assert ends[-1].test_mse < ends[0].test_mse < 1.0
    assert ends[-1].codes.shape == (2000, 2)  # host copies for the UI, not device tensors

    model, _ = load_trained(run, torch.device("cpu"))
    assert next(model.parameters()).device.type == "cpu"
    state = torch.load(run.file("checkpoint.pt"), map_location="cpu", weights_only=True)
    assert all(t.device.type == "cpu" for t in state["model"].values())
    for name in ("latent.png", "interpolation.png", "reconstructions.png", "latents.npz"):
        assert run.file(name).stat().st_size > 0


def test_the_training_loop_does_not_sync_with_the_host_every_step(mnist_cuda):
    from core.lab.bench import count_syncs
    from core.config import AEConfig

    # 128 steps per epoch: the loss is read back once every 128 // 20 = 6 steps
    config = AEConfig(hidden=(64, 32), batch_size=16, subset=2048, device="cuda")
    found = count_syncs(config, mnist_cuda, steps=120)
    assert found["steps"] >= 120
    assert found["syncs_per_step"] < 0.5, found


def test_vae_on_the_gpu_reports_both_loss_parts(mnist_cuda, tiny_config):
    from core.engine.fit import EpochEnd, fit

    config = replace(tiny_config, kind="vae", device="cuda", subset=2048, epochs=1)
    end = next(e for e in fit(config, mnist_cuda) if isinstance(e, EpochEnd))
    assert end.test_kl is not None and end.test_kl > 0
    assert end.test_loss == pytest.approx(end.test_mse + config.beta * end.test_kl / 784, rel=1e-4)


def test_aekl_train_on_cuda_from_the_command_line(tmp_path):
    cmd = [sys.executable, "-c", "from core.cli import app; app()", "train", "--device", "cuda", "--subset", "1024",
           "--epochs", "1", "--batch-size", "128", "--out", str(tmp_path), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["event"] == "Started" and events[0]["device"].startswith("cuda")
    assert events[-1]["event"] == "Finished"


def test_cuda_graph_step_matches_the_eager_step(tmp_path, mnist_cuda, tiny_config):
    """The captured step gives the eager step's losses (to float tolerance), and
    a stopped graph run resumes to the weights of an uninterrupted one."""
    from core.runfolder.runs import new_run, open_run
    from core.engine.fit import EpochEnd, Progress, fit

    config = replace(tiny_config, device="cuda", subset=2048, epochs=2)
    eager = [e for e in fit(config, mnist_cuda) if isinstance(e, (Progress, EpochEnd))]
    graphed_config = replace(config, cuda_graphs=True)
    graphed = [e for e in fit(graphed_config, mnist_cuda) if isinstance(e, (Progress, EpochEnd))]
    assert len(eager) == len(graphed)
    for a, b in zip(eager, graphed):
        got, want = (b.loss, a.loss) if isinstance(a, Progress) else (b.test_mse, a.test_mse)
        assert got == pytest.approx(want, rel=1e-3, abs=1e-5)

    whole = new_run(graphed_config, tmp_path, name="whole")
    list(fit(graphed_config, mnist_cuda, run=whole))
    parted = new_run(graphed_config, tmp_path, name="parted")
    polls = iter(range(10**6))
    list(fit(graphed_config, mnist_cuda, run=parted, should_stop=lambda: next(polls) >= 40))
    list(fit(graphed_config, mnist_cuda, run=open_run("parted", tmp_path), resume=True))
    a = torch.load(whole.file("checkpoint.pt"), weights_only=True)["model"]
    b = torch.load(parted.file("checkpoint.pt"), weights_only=True)["model"]
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-6)
