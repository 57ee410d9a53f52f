"""The run screen states a VAE's test −ELBO (nats, bits/dim) and, at the end, the IWAE bound."""

from __future__ import annotations

import json
import math

import pytest

from tui.app import make_app
from tui.screens.run_detail import RunDetailScreen
from tui.widgets.kl_bars import KLBars

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]  # the module's run trains a VAE


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    from core.config import AEConfig
    from core.data.mnist import load_mnist
    from core.engine.fit import fit
    from core.runfolder.runs import new_run

    root = tmp_path_factory.mktemp("vae-elbo") / "runs"
    config = AEConfig(kind="vae", latent=3, hidden=(32,), epochs=1, batch_size=64, subset=512, device="cpu")
    for _ in fit(config, load_mnist(subset=512), run=new_run(config, root, name="v")):
        pass
    return root


async def test_the_kl_panel_border_states_the_elbo_and_the_bound(vae_run, until):
    row = json.loads((vae_run / "v" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["test_nelbo_bpd"] == pytest.approx(row["test_nelbo"] / (784 * math.log(2)), rel=1e-12)
    app = make_app(runs_dir=vae_run, attach="v")
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.state == "finished",
                    60, "the replay")
        await pilot.pause(0.3)
        subtitle = str(app.screen.query_one(KLBars).border_subtitle)
        assert subtitle == (f"−ELBO {row['test_nelbo']:.1f} nats = {row['test_nelbo_bpd']:.3f} bits/dim"
                            f" · IWAE(k={row['iwae_k']}) {row['test_iwae_nll']:.1f} (σx² = ½)")
