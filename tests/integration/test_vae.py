"""The VAE as a teaching instrument: the ELBO in parts, active units, β schedules
through stop/resume, the VAE's figures and the collapse warning."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from PIL import Image

from core.nn.schedules import beta_at
from core.nn.elbo import active_units, collapse_warning, kl_per_dim, posterior_stats
from core.nn.models import VAE, load_trained
from core.figures.plots import traversal_size
from core.runfolder.runs import new_run, open_run
from core.engine.fit import EpochEnd, Finished, Stopped, fit


def ends_of(config, data, **kw):
    return [e for e in fit(config, data, **kw) if isinstance(e, EpochEnd)]


def test_kl_per_dimension_matches_torch_distributions_and_sums_to_the_kl():
    gen = torch.Generator().manual_seed(3)
    mu = torch.randn(64, 5, generator=gen, dtype=torch.float64)
    logvar = torch.randn(64, 5, generator=gen, dtype=torch.float64)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expect = torch.distributions.kl_divergence(q, p).mean(0)
    per_dim = kl_per_dim(mu, logvar)
    assert per_dim.shape == (5,)
    assert torch.allclose(per_dim, expect, rtol=1e-12)
    # and the VAE's loss charges exactly their sum
    model = VAE(5, hidden=(16,)).double().eval()
    x = torch.rand(32, 784, generator=gen, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        m, lv = model.moments(x)
        assert float(model.losses(x)["kl"]) == pytest.approx(float(kl_per_dim(m, lv).sum()), rel=1e-12)


def test_free_bits_charge_at_least_lambda_per_dimension():
    model = VAE(3, hidden=(8,), free_bits=0.5).eval()
    with torch.no_grad():  # a posterior equal to the prior: zero KL in every dimension
        model.encoder[-1].weight.zero_()
        model.encoder[-1].bias.zero_()
    with torch.no_grad():
        parts = model.losses(torch.zeros(4, 784))
    assert float(parts["kl"]) == pytest.approx(0.0, abs=1e-7)
    assert float(parts["charged_kl"]) == pytest.approx(1.5)  # 3 dims x 0.5 nats
    assert float(parts["loss"]) == pytest.approx(float(parts["mse"]) + 1.5 / 784)


def test_active_units_of_a_constructed_code():
    gen = torch.Generator().manual_seed(0)
    mu = torch.zeros(500, 6)
    mu[:, :2] = torch.randn(500, 2, generator=gen)  # variance about 1: active
    mu[:, 2] = 0.05 * torch.randn(500, generator=gen)  # variance 0.0025: not active
    mu[:, 3] = 3.0  # constant: not active
    assert active_units(mu) == 2


@pytest.mark.parametrize("k", [0, 1, 3])
def test_an_encoder_with_exactly_k_informative_dimensions(k, mnist_small):
    model = VAE(5, hidden=(32,))
    last = model.encoder[-1]  # rows 0-4 give the means, 5-9 the log-variances
    with torch.no_grad():
        last.weight[k:5].zero_()
        last.bias[:5].zero_()
        last.weight[:k] *= 50  # well above the 0.01 variance line
    stats = posterior_stats(model, mnist_small.test_x[:2000])
    assert stats["active_units"] == k
    assert len(stats["kl_per_dim"]) == 5


@pytest.mark.slow  # trains for epochs
def test_every_epoch_carries_the_elbo_in_parts(tmp_path, mnist_small, tiny_config):
    config = replace(tiny_config, kind="vae", latent=4, epochs=2, kl_warmup=1.5, free_bits=0.05)
    run = new_run(config, tmp_path)
    ends = ends_of(config, mnist_small, run=run)
    steps = 512 // 64
    for end in ends:
        assert len(end.kl_per_dim) == 4
        assert sum(end.kl_per_dim) == pytest.approx(end.test_kl, rel=1e-5)
        assert end.beta == pytest.approx(beta_at(end.epoch * steps - 1, steps, config))
        assert 0 <= end.active_units <= 4
        # total = recon + beta * KL / 784, on both sides
        assert end.test_loss == pytest.approx(end.test_mse + end.test_beta_kl / 784, rel=1e-5)
        assert end.train_loss == pytest.approx(end.train_mse + end.train_beta_kl / 784, rel=1e-5)
    assert ends[0].beta == pytest.approx(8 / 12)  # epoch 1 ends at step 8 of a 12-step warm-up
    rows = run.metrics()
    assert rows[-1]["kl_per_dim"] == pytest.approx(list(ends[-1].kl_per_dim))
    assert {"train_kl", "train_beta_kl", "test_beta_kl", "active_units", "beta"} <= set(rows[0])


@pytest.mark.slow  # trains for epochs
def test_an_autoencoder_row_has_no_vae_fields(mnist_small, tiny_config):
    end = ends_of(replace(tiny_config, epochs=1), mnist_small)[0]
    assert end.kl_per_dim == () and end.beta is None
    assert set(end.metrics_row()) == {"epoch", "train_loss", "train_mse", "test_loss", "test_mse", "test_images", "seconds",
                                      "samples_per_s", "lr"}


@pytest.mark.slow  # trains for epochs
@pytest.mark.parametrize("schedule", [{"kl_warmup": 1.5}, {"kl_schedule": "cyclical", "kl_cycles": 3}])
def test_resume_with_a_schedule_reaches_the_same_weights(tmp_path, mnist_small, tiny_config, schedule):
    config = replace(tiny_config, kind="vae", epochs=2, free_bits=0.1, **schedule)
    whole = new_run(config, tmp_path, name="whole")
    list(fit(config, mnist_small, run=whole))

    parted = new_run(config, tmp_path, name="parted")
    polls = iter(range(10_000))
    events = list(fit(config, mnist_small, run=parted, should_stop=lambda: next(polls) >= 5))
    assert isinstance(events[-1], Stopped) and (events[-1].epoch, events[-1].step) == (0, 5)
    assert isinstance(list(fit(config, mnist_small, run=open_run("parted", tmp_path), resume=True))[-1], Finished)

    a, _ = load_trained(whole)
    b, _ = load_trained(parted)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert [m["beta"] for m in whole.metrics()] == [m["beta"] for m in parted.metrics()]
    assert [m["train_loss"] for m in whole.metrics()] == [m["train_loss"] for m in parted.metrics()]


@pytest.mark.slow  # trains for epochs
def test_vae_figures_have_the_documented_sizes(tmp_path, mnist_small, tiny_config):
    config = replace(tiny_config, kind="vae", latent=5, epochs=1)
    run = new_run(config, tmp_path)
    files = list(fit(config, mnist_small, run=run))[-1].files
    assert Image.open(files["samples"]).size == ((10 * 30 + 2) * 4, (10 * 30 + 2) * 4)  # 10 x 10 decodes
    assert Image.open(files["traversals"]).size == traversal_size(5) == (730, 390)  # 9 values x 5 dims
    assert "manifold" not in files  # only for a 2-D latent

    config2 = replace(tiny_config, kind="vae", latent=2, epochs=1)
    run2 = new_run(config2, tmp_path)
    files2 = list(fit(config2, mnist_small, run=run2))[-1].files
    assert "traversals" not in files2 and Image.open(files2["manifold"]).size[0] >= 700
    assert Image.open(files2["samples"]).size == (1208, 1208)
    # the loss chart grows a second panel for beta
    assert Image.open(files2["loss"]).size[1] > 600


def test_collapse_warning_words():
    assert collapse_warning([2.1, 0.003, 1.4, 0.0]) is None  # half quiet is not most
    text = collapse_warning([2.1, 0.003, 0.01, 0.0])
    assert text.startswith("posterior collapse: 3 of 4 latent dimensions carry almost no information")
    assert "beta" in text
    assert collapse_warning([]) is None


@pytest.mark.slow  # trains for epochs
def test_a_collapsed_model_warns_and_a_healthy_one_does_not(mnist_small, tiny_config):
    base = replace(tiny_config, kind="vae", latent=4, epochs=3)
    collapsed = ends_of(replace(base, beta=500.0), mnist_small)[-1]
    healthy = ends_of(replace(base, beta=1.0), mnist_small)[-1]
    assert max(collapsed.kl_per_dim) < 0.1
    assert collapse_warning(collapsed.kl_per_dim) is not None
    assert min(healthy.kl_per_dim) > 0.1
    assert collapse_warning(healthy.kl_per_dim) is None


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("args, flag", [
    (["--kl-warmup", "3"], "--kl-warmup"),  # longer than the 2-epoch run
    (["--free-bits", "-1"], "--free-bits"),
    (["--beta", "-0.5"], "--beta"),
    (["--kl-schedule", "sawtooth"], "--kl-schedule"),
])
@pytest.mark.slow  # a fresh `aekl train` process
def test_bad_kl_options_one_line_exit_2_nothing_written(tmp_path, args, flag):
    import os

    env_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-m", "core.cli", "train", "--kind", "vae", "--epochs", "2", *args],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": env_root})
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"aekl: error: {flag} ")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow  # a fresh `aekl train` process
def test_cli_summary_and_show_print_the_elbo(tmp_path):
    import os

    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
           "COLUMNS": "100"}
    args = ["train", "--kind", "vae", "--latent", "3", "--epochs", "1", "--subset", "512", "--batch-size", "64",
            "--hidden", "32", "--beta", "500", "--name", "v"]
    proc = subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "ELBO in parts" in proc.stdout and "KL per latent dimension, epoch 1" in proc.stdout
    assert "posterior collapse: 3 of 3" in " ".join(proc.stderr.split())
    row = json.loads((tmp_path / "runs" / "v" / "metrics.jsonl").read_text().splitlines()[0])
    shown = subprocess.run([sys.executable, "-m", "core.cli", "show", "v"], capture_output=True, text=True,
                           cwd=tmp_path, env=env)
    assert shown.returncode == 0
    assert f"{row['test_kl']:.2f}" in shown.stdout and "0/3" in shown.stdout


def test_the_tui_bars_draw_the_same_quiet_line_as_the_warning():
    from core.nn.elbo import QUIET_KL
    from tui.widgets import kl_bars

    assert kl_bars.QUIET_KL == QUIET_KL
