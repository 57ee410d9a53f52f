"""q(z|x) of one test image: what a trained VAE's encoder says about it.

The encoder gives a mean and a log-variance per latent dimension; that is a
diagonal Gaussian, so its KL to the prior N(0, I) is exactly the problem
`aekl kl` solves. `Posterior.problem()` hands it over as a KLProblem, so the
CLI (`aekl kl --run RUN --index I`) and the TUI's inspector print the same
numbers as the KL calculator with those mu and sigma typed in.

Only `posterior_of` and `load_posterior` need torch; a Posterior itself is
numpy, so the TUI can carry it across threads and into the KL screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import BadInput


@dataclass(frozen=True)
class Posterior:
    index: int  # test image
    digit: int  # its label
    image: np.ndarray  # (28, 28) in [-1, 1]
    mu: np.ndarray  # (latent,) float64, the encoder's mean
    logvar: np.ndarray  # (latent,) float64, the encoder's ln sigma^2, kept as given
    run_id: str | None = None

    @property
    def sigma(self) -> np.ndarray:
        return np.exp(0.5 * self.logvar)

    @property
    def kl_terms(self) -> np.ndarray:
        """KL(q || N(0, I)) of each dimension, by core.gauss.kl's closed form."""
        from core.gauss.kl import kl_diag_standard

        return np.asarray(kl_diag_standard(self.mu, logvar=self.logvar).terms)

    def problem(self):
        """The KL calculator's problem: q = this posterior, p = N(0, I)."""
        from core.gauss.kl import Gaussian
        from core.gauss.parse import KLProblem, describe

        q = Gaussian.diag(self.mu, logvar=self.logvar)
        p = Gaussian.diag(np.zeros_like(self.mu), sigma=1.0)
        inputs = {"q": describe(q, given_logvar=True), "p": describe(p),
                  "posterior": {"run": self.run_id, "index": self.index, "digit": self.digit}}
        return KLProblem(q, p, inputs)


def no_posterior(run_id: str) -> BadInput:
    return BadInput(f"run {run_id} is a plain autoencoder: it has no posterior q(z|x), so there is no KL "
                    "to the prior; pick a VAE run")


def check_test_index(index: int, size: int) -> int:
    if not 0 <= index < size:
        raise BadInput(field="index", value=index, rule=f"must be a test image, 0 to {size - 1}")
    return index


def posterior_of(model, test_x, test_y, index: int, run_id: str | None = None) -> Posterior:
    """The encoder's q(z|x) for test image `index`; a plain autoencoder has none."""
    import torch

    if not hasattr(model, "moments"):
        raise no_posterior(run_id or "this")
    check_test_index(index, len(test_y))
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        mu, logvar = model.moments(test_x[index : index + 1])
    model.train(was_training)
    return Posterior(index=index, digit=int(test_y[index]),
                     image=test_x[index].reshape(28, 28).cpu().numpy(),
                     mu=mu[0].double().cpu().numpy(), logvar=logvar[0].double().cpu().numpy(), run_id=run_id)


def load_posterior(run_id: str, runs_dir: Path, index: int, data_dir=None) -> Posterior:
    """Open a run, check it is a VAE (before paying for torch), encode one test image."""
    from core.runfolder.runs import open_sound

    run = open_sound(run_id, Path(runs_dir))
    if run.config().kind != "vae":
        raise no_posterior(run.id)
    if index < 0:
        raise BadInput(field="index", value=index, rule="must be a test image, 0 or more")
    from core.data.mnist import load_mnist
    from core.nn.models import load_trained

    model, _ = load_trained(run, "cpu")
    data = load_mnist(data_dir, "cpu", subset=1)  # only the test split is used
    return posterior_of(model, data.test_x, data.test_y, index, run.id)


def ellipse(mu, sigma, points: int = 48) -> tuple[list[float], list[float]]:
    """The 1-sigma ellipse of a 2-D diagonal Gaussian as a closed curve (x, y)."""
    t = np.linspace(0.0, 2.0 * np.pi, points + 1)
    return (mu[0] + sigma[0] * np.cos(t)).tolist(), (mu[1] + sigma[1] * np.sin(t)).tolist()
