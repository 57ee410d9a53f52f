"""The app starts `aekl train` with options built from an AEConfig: they must
parse back to that same config, for every field that differs from the default."""

from __future__ import annotations

from core.config import AEConfig
from tui.launcher import config_args


def test_every_changed_field_reaches_aekl_train_as_itself():
    import typer

    from core.cli import app

    config = AEConfig(latent=3, hidden=(64, 32), activation="silu", kind="vae", beta=2.0, kl_schedule="cyclical",
                      kl_cycles=3, free_bits=0.25, epochs=4, batch_size=128, lr=0.001, warmup=0.25, seed=7,
                      device="cpu", threads=1, cuda_graphs=True, subset=1000, interp_from=3, interp_to=9,
                      interp_steps=6)
    args = config_args(config)
    group = typer.main.get_command(app)
    train = group.get_command(None, "train")
    params = train.make_context("train", list(args)).params
    rebuilt = AEConfig(latent=params["latent"], hidden=tuple(int(h) for h in params["hidden"].split(",")),
                       activation=params["activation"], kind=params["kind"], beta=params["beta"],
                       kl_schedule=params["kl_schedule"], kl_cycles=params["kl_cycles"],
                       free_bits=params["free_bits"], epochs=params["epochs"], batch_size=params["batch_size"],
                       lr=params["lr"], warmup=params["warmup"], seed=params["seed"], device=params["device"], threads=params["threads"],
                       cuda_graphs=params["cuda_graphs"], subset=params["subset"], interp_from=params["from_index"],
                       interp_to=params["to_index"], interp_steps=params["steps"])
    assert rebuilt == config
    assert config_args(AEConfig()) == []  # defaults are left to aekl train itself
    monotonic = AEConfig(kind="vae", epochs=4, kl_warmup=2.0)
    params = train.make_context("train", config_args(monotonic)).params
    assert (params["kind"], params["epochs"], params["kl_warmup"]) == ("vae", 4, 2.0)
