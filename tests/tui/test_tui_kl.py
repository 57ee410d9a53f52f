"""The KL screen: live results from core.gauss.parse, bad input marked on the field."""

from __future__ import annotations

import math

import pytest

from tui.app import make_app
from tui.widgets.kl_panel import KLPanel

pytestmark = pytest.mark.asyncio

# --mu 0.5,1 --sigma 1,2: ½[(1 + 0.25 − 1 − 0) + (4 + 1 − 1 − ln 4)]
TOTAL = 0.5 * ((1 + 0.25 - 1 - 0) + (4 + 1 - 1 - math.log(4)))
REVERSE = 0.5 * ((1 + 0.25 - 1 + 0) + (1 / 4 + 1 / 4 - 1 + math.log(4)))  # ½(1/σ² + μ²/σ² − 1 + ln σ²)


async def open_kl(pilot):
    await pilot.press("k")
    await pilot.pause()
    return pilot.app.screen.query_one(KLPanel)


async def settle(pilot, limit: float = 20.0):
    """Wait until the results follow the typing (they wait for a pause in it)."""
    import time

    panel = pilot.app.screen.query_one(KLPanel)
    end = time.monotonic() + limit
    await pilot.pause()
    while panel.pending:
        assert time.monotonic() < end, "the KL panel never caught up with the typing"
        await pilot.pause(0.05)


async def test_typed_input_gives_the_closed_form_total(runs_dir, text):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = await open_kl(pilot)
        assert app.focused.id == "kl-mu"  # typing goes straight into μ
        await pilot.press(*"0.5,1", "tab", *"1,2")
        await settle(pilot)
        assert TOTAL == pytest.approx(1.4318528, abs=1e-7)
        assert panel.report.total == pytest.approx(TOTAL, rel=1e-12)
        assert panel.report.reverse == pytest.approx(REVERSE, rel=1e-12)
        assert panel.report.terms == pytest.approx([0.125, 0.5 * (4 - math.log(4))], rel=1e-12)
        shown = text(app)
        assert "KL(q ‖ N(0, I)) = 1.43185" in shown and "0.568147" in shown
        assert "0.125" in shown and "total" in shown and "0.0000" not in shown
        # the picture follows the input: dimension 2 has the largest term
        assert "dimension 2: area under q ln(q/p) = 1.30685" in shown
        assert not panel.errors


async def test_second_gaussian_and_both_directions(runs_dir):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = await open_kl(pilot)
        await pilot.press(*"1", "tab", *"2", "tab", *"0", "tab", *"1")
        await settle(pilot)
        # KL(N(1, 4) ‖ N(0, 1)) = ½(4 + 1 − 1 − ln 4);  KL(N(0, 1) ‖ N(1, 4)) = ½(1/4 + 1/4 − 1 + ln 4)
        assert panel.report.total == pytest.approx(0.5 * (4 - math.log(4)), rel=1e-12)
        assert panel.report.reverse == pytest.approx(0.5 * (0.5 - 1 + math.log(4)), rel=1e-12)
        await pilot.press(*["shift+tab"] * 1, "backspace", *"3")  # μ of p: 0 -> 3
        await settle(pilot)
        expected = 0.5 * (4 + 4 - 1 - math.log(4))  # (μ − μ₁)² = 4, σ₁ = 1
        assert panel.report.total == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow  # many redraws of the derivations (the snapshot tests keep a quick look)
async def test_bad_input_is_marked_on_the_field_and_never_crashes(runs_dir, text):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = await open_kl(pilot)
        await pilot.press(*"0.5,1", "tab", *"1,2")
        await settle(pilot)
        good = panel.report.total
        mu, sigma = (app.screen.query_one(f"#kl-{n}") for n in ("mu", "sigma"))

        await pilot.press("backspace", *"-2")  # σ = 1,-2
        await settle(pilot)
        assert sigma.has_class("-invalid") and not mu.has_class("-invalid")
        assert panel.errors == {"sigma": "σ of q must be > 0, got -2"}
        assert "σ of q must be > 0, got -2" in text(app)
        assert panel.report.total == good  # the last good result stays (dimmed)
        assert panel.has_class("-stale")
        assert "not updated: the results below are for the last valid input" in text(app)  # words, not only dim

        for junk in ("x", ",", "nan"):
            await pilot.press(*junk)
            await settle(pilot)
            assert sigma.has_class("-invalid")

        # sizes that do not match mark both fields the error is about (its field and other)
        await pilot.press("ctrl+u", *"1,2,3")
        await settle(pilot)
        assert set(panel.errors) == {"mu", "sigma"}
        assert panel.errors["sigma"] == "σ of q has 3 values but μ of q has 2 values"
        assert mu.has_class("-invalid")

        await pilot.press("ctrl+u", *"1,2")
        await settle(pilot)
        assert not panel.errors and not sigma.has_class("-invalid") and not panel.has_class("-stale")
        assert "not updated" not in text(app)
        assert panel.report.total == pytest.approx(TOTAL, rel=1e-12)


@pytest.mark.slow  # many redraws of the derivations (the snapshot tests keep a quick look)
async def test_derivations_follow_the_input(runs_dir):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_kl(pilot)
        await pilot.press(*"0.5,1", "tab", *"1,2", "ctrl+t")
        await settle(pilot)
        explain = app.screen.query_one("#kl-explain")
        assert explain.display
        assert "KL(N0 ‖ N1) = 1.43185" in explain.source  # the numbers typed, worked through
        await pilot.press("5")  # σ = 1,25 now: ½(0.25) + ½(625 − 1 − ln 625) = 309.406
        await settle(pilot)
        assert "KL(N0 ‖ N1) = 309.406" in explain.source and "1.43185" not in explain.source
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert not explain.display


async def test_derivations_step_by_step(runs_dir):
    from core.gauss.explain import explain_steps
    from core.gauss.kl import Gaussian

    steps = explain_steps(Gaussian.diag([0.5, 1.0], sigma=[1.0, 2.0]), Gaussian.standard(2))
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_kl(pilot)
        await pilot.press(*"0.5,1", "tab", *"1,2", "ctrl+n")
        await settle(pilot)
        explain = app.screen.query_one("#kl-explain")
        assert explain.display and explain.source.startswith(steps[0])
        assert steps[1] not in explain.source and f"step 1 of {len(steps)}" in explain.source
        await pilot.press("ctrl+n", "ctrl+n")
        await settle(pilot)
        assert steps[2] in explain.source and steps[3] not in explain.source
        assert f"step 3 of {len(steps)}" in explain.source


async def typed_at_80x24(pilot):
    """The KL screen at 80x24 with μ = 0.5,1 and σ = 1,2 typed, its results caught up."""
    await open_kl(pilot)
    await pilot.press(*"0.5,1", "tab", *"1,2")
    await settle(pilot)


async def test_derivations_scroll_into_view_at_80x24(runs_dir, text):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await typed_at_80x24(pilot)
        assert "with your numbers" not in text(app)  # below the plots, out of sight
        await pilot.press("ctrl+t")
        await settle(pilot)
        await pilot.pause(0.2)
        shown = text(app)
        assert "KL(N0 ‖ N1) with your numbers" in shown and "N0 = N(μ = (0.5, 1), σ = (1, 2))" in shown


async def test_forward_vs_reverse_demo_screen(runs_dir, text):
    from tui.screens.kl_demo import KLDemoScreen
    from tui.widgets.kl_panel import STALE

    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_kl(pilot)
        await pilot.press("ctrl+r")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, KLDemoScreen)
        # default mixture ½ N(−2, 0.6²) + ½ N(2, 0.6²): moments 0 and 4 + 0.36
        assert screen.demo.moments[0] == pytest.approx(0.0, abs=1e-12)
        assert screen.demo.moments[1] ** 2 == pytest.approx(4.36, rel=1e-12)
        assert min(abs(screen.demo.mode[0] - m) for m in (-2, 2)) < 0.1
        weights, spreads = screen.query_one("#demo-weights"), screen.query_one("#demo-spreads")
        await pilot.press("end", "backspace", "4")  # weights 0.5,0.4: the sum is not 1
        await pilot.pause()
        assert screen.errors == {"weights": "weights must sum to 1, got a sum of 0.9"}
        assert weights.has_class("-invalid") and not spreads.has_class("-invalid")
        assert STALE in " ".join(text(app).split())  # the plot and table are still the last good mixture's
        await pilot.press("backspace", "5")
        await pilot.pause()
        assert not screen.errors and not weights.has_class("-invalid")
        assert "not updated" not in text(app)


async def test_blank_fields_show_their_defaults(runs_dir, text):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = await open_kl(pilot)
        await pilot.press(*"0.5,1")
        await settle(pilot)
        # σ blank: 1 in each dimension, so KL = ½ Σ μ² = ½ (0.25 + 1)
        assert panel.report.total == pytest.approx(0.5 * (0.25 + 1.0), rel=1e-12)
        assert "blank, so the default: σ of q 1 each, μ of p 0 each, σ of p 1 each" in text(app)
        assert app.screen.query_one("#kl-sigma").placeholder == "blank: 1 each"


@pytest.mark.slow  # waits out two 3-s pauses (every other test here waits for the results too)
async def test_results_wait_for_a_pause_in_the_typing(runs_dir, monkeypatch, text):
    import tui.widgets.kl_panel as kl_panel

    monkeypatch.setattr(kl_panel, "DEBOUNCE", 3.0)  # long enough that no wait ends between two keys
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = await open_kl(pilot)
        await pilot.press(*"0.5,")  # on the way to 0.5,1: not an error yet, not a result
        mu = app.screen.query_one("#kl-mu")
        assert panel.pending and not panel.errors and not mu.has_class("-invalid")
        await settle(pilot)
        assert set(panel.errors) == {"mu"} and mu.has_class("-invalid")  # the pause came: now it is one
        await pilot.press("1")
        await settle(pilot)
        assert not panel.errors and panel.report.total == pytest.approx(0.625, rel=1e-12)


async def test_two_dimensions_get_two_pictures(runs_dir, text, until):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(100, 60)) as pilot:
        await open_kl(pilot)
        await pilot.press(*"0.5,1", "tab", *"1,2")
        await settle(pilot)
        await until(pilot, lambda: "1σ and 2σ ellipses" in text(app), 30, "the pictures drawn")  # after the numbers
        shown = text(app)
        # the densities of the largest term (dimension 2) and, beside them, the ellipses: each once
        assert shown.count("dim 2: area 1.307") == 1 and shown.count("1σ and 2σ ellipses") == 1
        assert app.screen.query_one("#kl-ellipses").display
        await pilot.press("ctrl+u", "1", "shift+tab", "ctrl+u", *"0.5")  # one dimension: no ellipses
        await settle(pilot)
        assert not app.screen.query_one("#kl-ellipses").display
        assert "1σ and 2σ ellipses" not in text(app)


@pytest.mark.slow  # the steps themselves in the fast loop: test_derivations_step_by_step
async def test_next_step_scrolls_to_the_new_step_at_80x24(runs_dir, text):
    app = make_app(runs_dir=runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await typed_at_80x24(pilot)
        for n in (1, 2, 3):
            await pilot.press("ctrl+n")
            await pilot.pause()
            await pilot.pause()
            assert f"step {n} of" in text(app)  # the newest step is in view, not below the fold
