"""β schedules: hand values at chosen steps, purity, and the config's rules."""

from __future__ import annotations

import pytest

from core.nn.schedules import beta_at, beta_curve, steps_per_epoch
from core.config import AEConfig
from core.errors import BadInput


def vae(**kw) -> AEConfig:
    return AEConfig(kind="vae", epochs=4, **kw)


def test_constant_beta_is_beta_at_every_step():
    config = vae(beta=2.5)
    assert [beta_at(s, 10, config) for s in (0, 1, 17, 39)] == [2.5, 2.5, 2.5, 2.5]


def test_an_autoencoder_has_no_kl_weight():
    assert beta_at(5, 10, AEConfig(kind="ae", beta=3.0)) == 0.0


def test_linear_warmup_hand_values():
    # 10 steps per epoch, warm-up of 2 epochs = 20 steps: beta (s + 1) / 20
    config = vae(beta=2.0, kl_warmup=2)
    assert beta_at(0, 10, config) == pytest.approx(0.1)
    assert beta_at(9, 10, config) == pytest.approx(1.0)
    assert beta_at(18, 10, config) == pytest.approx(1.9)
    assert beta_at(19, 10, config) == 2.0
    assert beta_at(39, 10, config) == 2.0


def test_fractional_warmup_counts_steps():
    config = vae(beta=1.0, kl_warmup=0.5)  # 5 of 10 steps
    assert [beta_at(s, 10, config) for s in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])


def test_cyclical_hand_values():
    # 4 epochs x 10 steps, 2 cycles of 20 steps: β = s/10 from 0 over 10 steps, hold 10
    config = vae(beta=1.0, kl_schedule="cyclical", kl_cycles=2)
    expect = {0: 0.0, 1: 0.1, 5: 0.5, 9: 0.9, 10: 1.0, 15: 1.0, 19: 1.0, 20: 0.0, 25: 0.5, 30: 1.0, 39: 1.0}
    assert {s: beta_at(s, 10, config) for s in expect} == pytest.approx(expect)


def test_schedules_are_pure_functions_of_the_step():
    config = vae(beta=3.0, kl_schedule="cyclical", kl_cycles=3)
    forward = [beta_at(s, 7, config) for s in range(28)]
    backward = [beta_at(s, 7, config) for s in reversed(range(28))][::-1]
    assert forward == backward


def test_beta_curve_ends_at_the_last_step():
    config = vae(beta=1.0, kl_warmup=1)
    epochs, betas = beta_curve(10, config, points=1000)
    assert epochs[0] == pytest.approx(0.1) and epochs[-1] == pytest.approx(4.0)
    assert betas[0] == pytest.approx(0.1) and betas[-1] == 1.0
    assert len(epochs) == 40


def test_steps_per_epoch_from_the_config():
    assert steps_per_epoch(AEConfig(batch_size=256)) == 234  # 60,000 // 256
    assert steps_per_epoch(AEConfig(batch_size=64, subset=512)) == 8


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"beta": -1.0}, "beta"),
        ({"free_bits": -0.5}, "free_bits"),
        ({"free_bits": float("nan")}, "free_bits"),
        ({"kl_warmup": 5.0}, "kl_warmup"),  # longer than the 4-epoch run
        ({"kl_warmup": -1.0}, "kl_warmup"),
        ({"kl_schedule": "sawtooth"}, "kl_schedule"),
        ({"kl_cycles": 0}, "kl_cycles"),
        ({"kl_schedule": "cyclical", "kl_warmup": 1.0}, "kl_warmup"),
    ],
)
def test_bad_kl_settings_are_field_errors(kw, field):
    with pytest.raises(BadInput) as info:
        vae(**kw).validate()
    assert info.value.field == field
    assert "got" in str(info.value)


def test_a_config_from_before_the_schedules_still_loads():
    old = AEConfig().to_dict()
    for key in ("kl_schedule", "kl_warmup", "kl_cycles", "free_bits"):
        del old[key]
    config = AEConfig.from_dict(old)
    assert (config.kl_schedule, config.kl_warmup, config.kl_cycles, config.free_bits) == ("monotonic", 0.0, 4, 0.0)


def test_a_config_from_before_adam_beta2_keeps_torchs_default():
    # Runs written before the option trained with torch's 0.999: a resume must continue with it.
    old = AEConfig().to_dict()
    del old["adam_beta2"]
    assert AEConfig.from_dict(old).adam_beta2 == 0.999
