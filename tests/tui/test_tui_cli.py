"""aekl-tui's flags: they prefill the form; bad values are one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import AEConfig
from tui.app import main, make_app, parse_options
from tui.widgets.train_form import TrainForm


@pytest.mark.parametrize("argv, message", [
    (["--latent", "0"], "--latent must be at least 1, got 0"),
    (["--epochs", "many"], "Invalid value for '--epochs'"),
    (["--kind", "gan"], "--kind must be one of ae, vae, got 'gan'"),
    (["--lr", "-1"], "--lr must be a positive number, got -1.0"),
    (["--subset", "0"], "--subset must be at least 1, got 0"),
    (["--no-such-flag"], "No such option: --no-such-flag"),
    (["--attach", "../x"], "not a run id"),
])
def test_bad_flags_are_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("aekl-tui: error: ") and message in err


def test_cuda_that_is_not_there_is_refused_before_the_app_starts(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit) as stop:
        parse_options(["--device", "cuda"])
    assert stop.value.code == 2 and "no CUDA GPU" in capsys.readouterr().err


def test_flags_become_app_options():
    options = parse_options(["--runs-dir", "elsewhere", "--latent", "3", "--kind", "vae", "--epochs", "4",
                             "--batch-size", "128", "--lr", "0.001", "--subset", "1000", "--seed", "7", "--start"])
    app = make_app(**options)
    assert app.runs_dir == Path("elsewhere") and app.get_default_screen().start_at_once
    # the runs folder is spelled as in `aekl train`; the TUI's old --runs-dir stays an alias
    assert parse_options(["--out", "there"])["runs_dir"] == Path("there")
    assert app.config == AEConfig(latent=3, kind="vae", epochs=4, batch_size=128, lr=0.001, subset=1000, seed=7)
    # nothing given: AEConfig's own defaults, nothing invented here
    assert make_app(**parse_options([])).config == AEConfig()


@pytest.mark.asyncio
async def test_the_form_shows_the_flags(runs_dir):
    app = make_app(runs_dir=runs_dir, latent=16, kind="vae", subset=None, lr=0.0005)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        form = app.screen.query_one(TrainForm)
        raw = form.raw()
        assert (raw["latent"], raw["kind"], raw["subset"], raw["lr"]) == ("16", "vae", "all", "0.0005")
        assert form.config() == AEConfig(latent=16, kind="vae", lr=0.0005)


@pytest.mark.asyncio
async def test_the_form_sets_the_vae_options_and_hidden_sizes(runs_dir):
    from textual.widgets import Input, Select

    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        form = app.screen.query_one(TrainForm)
        beta = app.screen.query_one("#f-beta", Input)
        assert beta.region.area == 0  # an AE has no KL term: its options are not shown
        app.screen.query_one("#f-kind", Select).value = "vae"
        await pilot.pause()
        assert beta.region.area > 0
        typed = {"beta": "4", "kl_warmup": "2", "free_bits": "0.5", "hidden": "128,64", "kl_cycles": "2"}
        for name, text in typed.items():
            app.screen.query_one(f"#f-{name}", Input).value = text
        await pilot.pause()
        assert form.config() == AEConfig(kind="vae", beta=4.0, kl_warmup=2.0, free_bits=0.5, hidden=(128, 64),
                                         kl_cycles=2)
        beta.value = "1e308"
        await pilot.pause()
        assert beta.has_class("-invalid")
        assert form.errors == {"beta": "beta must be at most 10000, got 1e+308"}


@pytest.mark.asyncio
async def test_a_bad_field_is_named_on_a_line_of_its_own_and_hidden_fields_do_not_count(runs_dir, text):
    from textual.widgets import Input, Select

    from tui.widgets.status_bar import StatusBar

    app = make_app(runs_dir=runs_dir, kind="vae")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        form = app.screen.query_one(TrainForm)
        app.screen.query_one("#f-beta", Input).value = "-1"
        await pilot.pause()
        note = app.screen.query_one("#form-note")
        message = "beta must be a non-negative number, got -1.0"
        assert form.errors == {"beta": message}
        # the note spans the form's width, under the VAE line, and the board keeps its place below
        assert note.region.width >= 70 and note.region.y == app.screen.query_one("#form-row-2").region.bottom
        assert message in text(app)
        assert app.screen.query_one("#board").region.height >= 12
        await pilot.press("s")  # refused: the status line says why
        await pilot.pause()
        assert message in app.screen.query_one(StatusBar).text
        # an AE ignores the hidden VAE line: it starts with the β it was filled with
        app.screen.query_one("#f-kind", Select).value = "ae"
        await pilot.pause()
        assert form.errors == {} and note.region.area == 0
        assert message not in app.screen.query_one(StatusBar).text  # the refusal's message went with the fault
        assert form.config() == AEConfig(kind="ae", beta=1.0)
