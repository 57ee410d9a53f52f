"""A VAE's ELBO in parts for the epoch on the board, in one line of numbers and,
when the posterior collapsed, a line of words saying so.

recon is the test MSE per pixel, KL the test KL per image in nats, β the KL
weight in force at the end of the epoch, and total the objective
recon + β·KL/784 (free bits may make β·KL less than β times KL). An
autoencoder's epochs have none of these: the line hides itself.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.events import EpochEnd
from core.present.elbo import collapse_warning


def parts_text(event: EpochEnd) -> Text:
    text = Text("ELBO ", style="bold")
    latent = len(event.kl_per_dim)
    active = "-" if event.active_units is None else str(event.active_units)
    for name, value in (("recon", f"{event.test_mse:.4f}"), ("KL", num(event.test_kl, ".2f")),
                        ("β", num(event.beta, ".3g")), ("β·KL", num(event.test_beta_kl, ".2f")),
                        ("total", f"{event.test_loss:.4f}"), ("active", f"{active}/{latent or '-'}")):
        text.append(f" {name} ", style="dim")
        text.append(value)
    return text


def num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


class ElboLine(Static):
    def show(self, event: EpochEnd | None) -> None:
        """The parts of `event` (None, or an autoencoder's epoch: hidden)."""
        if event is None or event.test_kl is None:
            self.display = False
            return
        text = parts_text(event)
        warning = collapse_warning(event.kl_per_dim)
        self.set_class(warning is not None, "-collapsed")
        if warning:
            text.append("\nwarning: ", style="bold")
            text.append(warning.split(". ")[0] + ".")  # the finding; the advice is in aekl show and help
        self.update(text)
        self.display = True
