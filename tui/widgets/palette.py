"""Colours for plots that read on dark and light backgrounds without truecolor,
and the rule for when colour alone cannot carry meaning.

xterm-256 indices rather than #rrggbb: over SSH COLORTERM is often unset, and
256-colour codes are drawn exactly where truecolor would be approximated. The
digit colours follow matplotlib's tab10 (the PNGs use it), so a digit has the
same hue in the terminal and in latent.png; all are mid-tones, visible on
black and on white.

A 16-colour terminal (TERM=xterm) would round several of those to one ANSI
colour, so there the digits take ten of the sixteen ANSI colours, picked to
be distinct and never black, white or grey. Some such terminals show only
eight, and NO_COLOR shows none: then the scatter draws each point as its
digit, so the picture means the same without colour.
"""

DIGIT_COLOURS = (31, 208, 34, 160, 97, 94, 170, 244, 142, 38)
# tab10's hues among the ANSI sixteen: blue, bright yellow, green, red, magenta,
# yellow, bright magenta, bright blue, bright green, cyan
DIGIT_COLOURS_16 = (4, 11, 2, 1, 5, 3, 13, 12, 10, 6)

STEP_COLOUR = 33  # training loss within epochs
TRAIN_COLOUR = 208  # train loss per epoch
TEST_COLOUR = 34  # test loss per epoch
BETA_COLOUR = 170  # the VAE's KL weight in force, on the loss chart's right axis


# On a light theme (a light grey surface) the brighter of those fall under a
# 3:1 contrast; each gets a darker index of the same hue there (all >= 3:1 on
# textual-light's #d8d8d8, as 256-colour indices render).
ON_LIGHT = {31: 25, 208: 130, 34: 28, 160: 124, 170: 127, 244: 240, 142: 58, 38: 30, 33: 26}

# A run status's ANSI colour name (core.runfolder.schema) as a theme variable: the
# status bar draws it as a reversed badge, the runs list as text ("text-" + it).
STATUS_THEME = {"green": "success", "cyan": "success", "yellow": "warning", "red": "error", "magenta": "error",
                "white": "foreground"}


def is_light(app) -> bool:
    theme = getattr(app, "current_theme", None)
    return theme is not None and not theme.dark


def shade(app, code: int) -> int:
    """A plot colour as drawn on this app's theme: darker on a light one."""
    return ON_LIGHT.get(code, code) if is_light(app) else code


def status_style(app, colour: str) -> str:
    """A status word's style: the theme's text colour for it (readable on light and dark)."""
    variables = getattr(app, "theme_variables", {}) or {}
    return variables.get(f"text-{STATUS_THEME.get(colour, '')}", "")


def rich_colour(code: int) -> str:
    """A 256-colour index as a rich/Textual style name."""
    return f"color({code})"


def colour_system(app) -> str | None:
    """'none' under NO_COLOR, else rich's word for the terminal: 'standard' (8 or 16),
    '256', 'truecolor', 'windows' or None (no colour at all)."""
    if getattr(app, "no_color", False):
        return "none"
    return getattr(getattr(app, "console", None), "color_system", "256")


def few_colours(app) -> bool:
    """True when ten digits cannot be told apart by colour alone."""
    return colour_system(app) in ("none", "standard", "windows", None)


def digit_colours(app) -> tuple[int, ...]:
    """The ten digit colours for this terminal and theme."""
    if colour_system(app) in ("standard", "windows"):
        return DIGIT_COLOURS_16
    return tuple(shade(app, code) for code in DIGIT_COLOURS)
