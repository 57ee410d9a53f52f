"""The VAE in the run screen: KL bars that follow the epoch shown, beta on the
loss chart, the posterior inspector carried into the KL screen, traversals."""

from __future__ import annotations

import json
import re

import pytest
from textual.widgets import Input

from core.nn.posterior import load_posterior
from tui.app import make_app
from tui.screens.kl import KLScreen
from tui.screens.run_detail import Inspected, RunDetailScreen, Traversed
from tui.screens.traversals import TraversalScreen
from tui.widgets.digit_strip import DigitStrip
from tui.widgets.kl_bars import KLBars
from tui.widgets.latent_scatter import LatentScatter
from tui.widgets.loss_chart import LossChart
from tui.widgets.posterior_view import PosteriorView
from tui.widgets.run_board import RunBoard

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]  # the module's runs train two VAEs for epochs


@pytest.fixture(scope="module")
def vae_runs(tmp_path_factory):
    """Two tiny VAEs: latent 4 over two epochs with a KL warm-up, and latent 2."""
    from core.config import AEConfig
    from core.data.mnist import load_mnist
    from core.runfolder.runs import new_run
    from core.engine.fit import fit

    root = tmp_path_factory.mktemp("vae-tui") / "runs"
    data = load_mnist(subset=512)
    for name, latent, epochs, warmup in (("z4", 4, 2, 1.5), ("z2", 2, 1, 0.0)):
        config = AEConfig(kind="vae", latent=latent, hidden=(32,), epochs=epochs, batch_size=64, subset=512,
                          kl_warmup=warmup, device="cpu")
        for _ in fit(config, data, run=new_run(config, root, name=name)):
            pass
    return root


def metrics(root, name):
    return [json.loads(line) for line in (root / name / "metrics.jsonl").read_text().splitlines()]


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


async def open_run(app, pilot, until):
    await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.state == "finished",
                60, "the replay")
    board, chart = app.screen.query_one(RunBoard), app.screen.query_one(LossChart)
    # the chart redraws at most every few seconds: wait until it shows every epoch replayed
    await until(pilot, lambda: chart.epochs and len(chart.epochs) == len(board.epochs), 60, "the chart")
    return app.screen


async def test_kl_bars_and_beta_follow_the_epoch_shown(vae_runs, until):
    rows = metrics(vae_runs, "z4")
    app = make_app(runs_dir=vae_runs, attach="z4")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(app, pilot, until)
        bars = screen.query_one(KLBars)
        assert bars.display
        assert bars.values == pytest.approx(rows[1]["kl_per_dim"])  # the newest epoch
        lines = bars.text.splitlines()
        assert len(lines) == 1 + 4  # the heading and one bar per latent dimension
        assert [line.split()[0] for line in lines[1:]] == ["z1", "z2", "z3", "z4"]
        assert [line.split()[-1] for line in lines[1:]] == [f"{v:.2f}" for v in rows[1]["kl_per_dim"]]
        chart = screen.query_one(LossChart)
        assert chart.betas == [(1, rows[0]["beta"]), (2, rows[1]["beta"])]
        assert 0 < rows[0]["beta"] < rows[1]["beta"] == 1.0  # the warm-up of 1.5 epochs shows

        await pilot.press("left")  # back to epoch 1: its bars, the chart up to it
        assert bars.values == pytest.approx(rows[0]["kl_per_dim"])
        assert chart.betas == [(1, rows[0]["beta"])]
        await pilot.press("end")
        assert bars.values == pytest.approx(rows[1]["kl_per_dim"])


async def test_an_autoencoder_board_has_no_bars(trained_run, monkeypatch, until):
    monkeypatch.chdir(trained_run.path.parent.parent)
    app = make_app(runs_dir="runs", attach=trained_run.id)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(app, pilot, until)
        assert not screen.query_one(KLBars).display
        assert screen.query_one(LossChart).betas == []


async def test_inspect_a_test_image_and_carry_it_into_the_kl_screen(vae_runs, until, text):
    expect = load_posterior("z4", vae_runs, 7)
    seen: dict[int, object] = {}
    app = make_app(runs_dir=vae_runs, attach="z4")
    async with app.run_test(size=(100, 30), message_hook=lambda m: seen.setdefault(id(m), m)) as pilot:
        screen = await open_run(app, pilot, until)
        assert not screen.query_one(PosteriorView).display
        await pilot.press("tab", "tab", "tab", "tab")  # the board, from, to, then the inspect field
        assert app.focused.id == "inspect-index"
        await pilot.press("7", "enter")
        await until(pilot, lambda: any(isinstance(m, Inspected) for m in seen.values()), 60, "the posterior")
        await pilot.pause()
        post = screen.posterior
        assert post.index == 7 and post.digit == expect.digit
        assert post.mu.tolist() == expect.mu.tolist() and post.logvar.tolist() == expect.logvar.tolist()
        view = screen.query_one(PosteriorView)
        assert view.display
        shown = text(app)
        assert f"test #7 (a {expect.digit}): q(z|x), KL to N(0, I) = {expect.kl_terms.sum():.3f} nats" in shown
        for d in range(4):
            assert (f"z{d + 1}  μ {expect.mu[d]:+7.3f}  σ {expect.sigma[d]:6.3f}  KL {expect.kl_terms[d]:6.3f}"
                    in shown)
        assert "2-D scatters only" in shown  # latent 4: no ellipse on a PCA view
        assert screen.query_one(LatentScatter).marked is None

        await pilot.press("k")  # the KL screen, filled with this posterior
        assert isinstance(app.screen, KLScreen)
        mu = floats(app.screen.query_one("#kl-mu", Input).value)
        sigma = floats(app.screen.query_one("#kl-sigma", Input).value)
        assert mu == pytest.approx(expect.mu.tolist(), rel=1e-5, abs=1e-6)
        assert sigma == pytest.approx(expect.sigma.tolist(), rel=1e-5)
        said = re.compile(r"KL\(q ‖ N\(0, I\)\) = (\S+)")  # the screen's total, from those numbers
        await until(pilot, lambda: said.search(text(app)), 30, "the KL screen's total")  # after its debounce
        assert float(said.search(text(app)).group(1)) == pytest.approx(expect.kl_terms.sum(), rel=1e-4)

        await pilot.press("escape")  # leaves the μ field first ...
        assert isinstance(app.screen, KLScreen) and app.focused is None
        await pilot.press("escape")  # ... then the screen
        assert app.screen is screen
        await pilot.press("v")  # traversals around the inspected image
        await until(pilot, lambda: isinstance(app.screen, TraversalScreen), 60, "the traversals")
        traversed = next(m for m in seen.values() if isinstance(m, Traversed))
        kl = metrics(vae_runs, "z4")[-1]["kl_per_dim"]
        assert traversed.index == 7 and traversed.images.shape == (4, 9, 784)
        assert traversed.order == sorted(range(4), key=lambda d: -kl[d])  # most informative first
        assert len(app.screen.query(".traversal-row")) == 4
        best = traversed.order[0]
        assert f"z{best + 1} KL {kl[best]:.2f}" in text(app)
        # 100 columns: every second value (-3, -1.5, 0, 1.5, 3), each digit at least 14 pixels wide
        row = next(line for line in text(app).splitlines() if "▀" in line)
        digits = row.split()
        assert len(digits) == 5 and all(len(d) >= 14 and set(d) == {"▀"} for d in digits)


async def test_a_two_dimensional_posterior_gets_its_ellipse_and_bad_indices_are_refused(vae_runs, until, text):
    expect = load_posterior("z2", vae_runs, 3)
    seen: dict[int, object] = {}
    app = make_app(runs_dir=vae_runs, attach="z2")
    async with app.run_test(size=(100, 30), message_hook=lambda m: seen.setdefault(id(m), m)) as pilot:
        screen = await open_run(app, pilot, until)
        screen.query_one("#inspect-index", Input).focus()
        await pilot.press("9", "9", "9", "9", "9", "enter")
        note = screen.query_one("#pair-note")
        await until(pilot, lambda: note.has_class("-error"), 60, "the refusal")
        assert str(note.content) == "test index must be a test image, 0 to 9999, got 99999"
        assert screen.posterior is None

        screen.query_one("#inspect-index", Input).focus()
        await pilot.press("ctrl+u", "3", "enter")
        await until(pilot, lambda: any(isinstance(m, Inspected) for m in seen.values()), 60, "the posterior")
        await pilot.pause()
        scatter = screen.query_one(LatentScatter)
        mu, sigma = scatter.marked
        assert mu.tolist() == expect.mu.tolist() and sigma.tolist() == pytest.approx(expect.sigma.tolist())
        legend = "○ 1σ points are" if scatter.glyphs else "0123456789 ○ 1σ"  # glyphs: few colours (TERM)
        assert legend in text(app)  # the scatter's legend names the ellipse
        strip, view = screen.query_one(DigitStrip), screen.query_one(PosteriorView)
        assert view.display and not strip.display  # the posterior takes the strip's rows ...
        screen.query_one("#pair-from", Input).focus()
        await pilot.press("ctrl+u", "3", "tab", "ctrl+u", "4", "2", "enter")
        await until(pilot, lambda: screen.decoded == (3, 42), 60, "the new pair")
        assert strip.display and not view.display  # ... until a pair is decoded


async def test_elbo_parts_follow_the_epoch_shown(vae_runs, until, text):
    from tui.widgets.elbo_line import ElboLine

    rows = metrics(vae_runs, "z4")
    app = make_app(runs_dir=vae_runs, attach="z4")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(app, pilot, until)
        line = screen.query_one(ElboLine)
        for key, row in (("end", rows[-1]), ("home", rows[0])):  # live (newest) and scrubbed back
            await pilot.press(key)
            await pilot.pause()
            # the objective: recon (MSE per pixel) + β·KL/784, from the file's own numbers
            assert row["test_loss"] == pytest.approx(row["test_mse"] + row["test_beta_kl"] / 784, rel=1e-4)
            shown = text(app)
            expected = (f"ELBO  recon {row['test_mse']:.4f} KL {row['test_kl']:.2f} β {row['beta']:.3g} "
                        f"β·KL {row['test_beta_kl']:.2f} total {row['test_loss']:.4f} active {row['active_units']}/4")
            assert line.display and expected in shown


async def test_a_collapsed_posterior_is_said_in_words():
    import numpy as np
    from textual.app import App

    from core.events import EpochEnd
    from tui.widgets.elbo_line import ElboLine

    def epoch(kl):
        return EpochEnd(epoch=3, epochs=5, train_loss=0.1, train_mse=0.09, test_loss=0.1, test_mse=0.09,
                        test_kl=sum(kl), seconds=1.0, samples_per_s=1.0, lr=1e-3, codes=np.zeros((0, 4)),
                        labels=np.zeros(0), frames=np.zeros((0, 28, 28)), kl_per_dim=tuple(kl),
                        active_units=1, beta=4.0, test_beta_kl=4.0 * sum(kl))

    class One(App):
        def compose(self):
            yield ElboLine()

    app = One()
    async with app.run_test(size=(80, 24)) as pilot:
        line = app.query_one(ElboLine)
        line.show(epoch([3.2, 0.01, 0.02, 0.0]))  # three of four dimensions under 0.1 nats
        await pilot.pause()
        assert line.has_class("-collapsed")
        assert "warning: posterior collapse: 3 of 4 latent dimensions carry almost no information" in str(
            line.render())
        line.show(epoch([3.2, 1.5, 0.02, 2.0]))
        await pilot.pause()
        assert not line.has_class("-collapsed") and "collapse" not in str(line.render())


async def test_marked_runs_side_by_side(vae_runs, until, text):
    from tui.screens.compare import CompareScreen
    from tui.widgets.run_list import RunList

    app = make_app(runs_dir=vae_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        runs = app.screen.query_one(RunList)
        await until(pilot, lambda: runs.loaded, 30, "the runs list")  # read off the UI thread
        await pilot.press("space", "down", "space")
        await pilot.pause()
        assert sorted(runs.marked) == ["z2", "z4"] and text(app).count("✓ ") == 2
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.epoch is not None,
                    60, "both runs read")
        screen = app.screen
        await pilot.pause()
        shown = text(app)
        # z2 trained one epoch, z4 two: the scatters meet at epoch 1, the newest both have
        assert screen.epoch == 1 and "at epoch 1 of 1" in shown
        for latent in (2, 4):
            assert f"z{latent} vae β1 seed 0" in shown  # latent size, kind, β and seed in each title
        scatters = screen.query(LatentScatter)
        assert len(scatters) == 2 and all(s.points is not None and len(s.points) for s in scatters)
