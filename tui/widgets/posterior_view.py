"""The posterior inspector's panel: one test digit beside its q(z|x).

Per latent dimension: the encoder's mu and sigma and the KL of that dimension
to the prior N(0, I), from core.gauss.kl's closed form (Posterior.kl_terms), the
same numbers `aekl kl --run RUN --index I` prints.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from core.nn.posterior import Posterior
from core.figures.render import resize, to_unit
from tui.pixels import image_text

DIGIT_SIDE = 14  # pixels a side: 14 columns by 7 rows of half blocks


def posterior_lines(post: Posterior, most: int | None = None) -> list[str]:
    """A heading and one line per dimension, `z3  μ -1.547  σ 0.531  KL 1.471`."""
    terms = post.kl_terms
    head = f"test #{post.index} (a {post.digit}): q(z|x), KL to N(0, I) = {terms.sum():.3f} nats"
    dims = len(terms) if most is None else min(most, len(terms))
    width = len(f"z{len(terms)}")
    lines = [head] + [f"{f'z{d + 1}':<{width}}  μ {post.mu[d]:+7.3f}  σ {post.sigma[d]:6.3f}  KL {terms[d]:6.3f}"
                      for d in range(dims)]
    if dims < len(terms):
        lines.append(f"... {len(terms) - dims} more (k: all of them in the KL screen)")
    return lines


class PosteriorView(Horizontal):
    DEFAULT_CSS = """
    PosteriorView { height: auto; max-height: 12; }
    PosteriorView #posterior-digit { width: 16; padding: 0 1; }
    PosteriorView #posterior-table { width: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.posterior: Posterior | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="posterior-digit")
        yield Static("", id="posterior-table")

    def show(self, post: Posterior, note: str = "") -> None:
        self.posterior = post
        self.query_one("#posterior-digit", Static).update(image_text(resize(to_unit(post.image), DIGIT_SIDE)))
        lines = posterior_lines(post, most=10)
        if note:
            lines.append(note)
        self.query_one("#posterior-table", Static).update("\n".join(lines))
