"""Colours for plots that read on dark and light backgrounds without truecolor.

xterm-256 indices rather than #rrggbb: over SSH COLORTERM is often unset, and
256-colour codes are drawn exactly where truecolor would be approximated. The
digit colours follow matplotlib's tab10 (the PNGs use it), so a digit has the
same hue in the terminal and in latent.png; all are mid-tones, visible on
black and on white.
"""

DIGIT_COLOURS = (31, 208, 34, 160, 97, 94, 170, 244, 142, 38)

STEP_COLOUR = 33  # training loss within epochs
TRAIN_COLOUR = 208  # train loss per epoch
TEST_COLOUR = 34  # test loss per epoch
BETA_COLOUR = 170  # the VAE's KL weight in force, on the loss chart's right axis


def rich_colour(code: int) -> str:
    """A 256-colour index as a rich/Textual style name."""
    return f"color({code})"
