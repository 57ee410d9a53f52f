"""aekl-tui: train and inspect MNIST autoencoders, and compute KL, in a terminal.

`make_app(**options)` builds the app for `main()` and for the tests alike.
Options are the command-line flags: runs_dir, data_dir, start, and any
AEConfig field (latent, kind, epochs, batch_size, lr, subset, device, seed;
tests also pass e.g. hidden) to prefill the training form.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Sequence

from textual.app import App
from textual.binding import Binding

from core.config import DEVICES, KINDS, AEConfig
from core.errors import AeklError, ExitCode
from core.runs import DEFAULT_ROOT
from tui.screens.training import TrainScreen

CONFIG_FIELDS = {f.name for f in fields(AEConfig)}


class AeklApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "aekl"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("t", "toggle_theme", "Theme", show=False),
    ]

    def __init__(self, config: AEConfig, runs_dir: Path, data_dir: Path | None, start: bool = False) -> None:
        super().__init__()
        self.config = config
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self.train_screen = TrainScreen(config, self.runs_dir, data_dir, start)

    def get_default_screen(self) -> TrainScreen:
        return self.train_screen

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    async def action_quit(self) -> None:
        from tui.screens.confirm import Confirm

        trainer = self.train_screen
        if not trainer.training:
            self.exit()
            return
        if isinstance(self.screen, Confirm):
            return
        if trainer.quit_when_done:
            # Already stopping: offer to leave without waiting for the files.
            question = "Still writing the checkpoint and figures. Quit without waiting?"
            self.push_screen(Confirm(question, "Quit now", "Wait"), lambda yes: yes and self.exit())
            return

        def answer(yes: bool | None) -> None:
            if yes:
                trainer.stop_and_quit()

        self.push_screen(Confirm("A run is training. Stop it (checkpoint and figures are saved) and quit?",
                                 "Stop and quit", "Keep training"), answer)


def make_app(runs_dir: str | Path | None = None, data_dir: str | Path | None = None,
             start: bool = False, **training: Any) -> AeklApp:
    """The app, its form prefilled with `training` (AEConfig fields; None means default)."""
    unknown = sorted(set(training) - CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"unknown training options: {', '.join(unknown)}")
    config = AEConfig(**{k: v for k, v in training.items() if v is not None})
    return AeklApp(config, Path(runs_dir) if runs_dir else DEFAULT_ROOT,
                   Path(data_dir) if data_dir else None, start)


# --- the command line ------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Errors as one line on stderr and exit code 2, as the aekl CLI does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"aekl-tui: error: {message}", file=sys.stderr, flush=True)
        sys.exit(int(ExitCode.USAGE))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="aekl-tui", description="Train and inspect MNIST autoencoders, and compute KL, in a terminal.")
    p.add_argument("--runs-dir", type=Path, default=None, help=f"folder that holds run folders (default {DEFAULT_ROOT})")
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST root (default: the bundled copy via the cache)")
    g = p.add_argument_group("training form (defaults: aekl train's)")
    # default=None everywhere: AEConfig alone holds defaults
    g.add_argument("--latent", "-z", type=int, default=None, help="latent (code) size")
    g.add_argument("--kind", choices=KINDS, default=None, help="model kind")
    g.add_argument("--epochs", type=int, default=None, help="passes over the training set")
    g.add_argument("--batch-size", type=int, default=None, help="images per step")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate")
    g.add_argument("--subset", type=int, default=None, help="train on the first N training images only")
    g.add_argument("--device", choices=DEVICES, default=None, help="auto, cpu, cuda or mps")
    g.add_argument("--seed", type=int, default=None, help="seed for init, batch order and noise")
    p.add_argument("--start", action="store_true", help="start training at once")
    return p


def parse_options(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Flags -> make_app options; a value AEConfig rejects is a usage error."""
    parser = build_parser()
    options = vars(parser.parse_args(argv))
    training = {k: options[k] for k in ("latent", "kind", "epochs", "batch_size", "lr", "subset", "device", "seed")}
    try:
        AEConfig(**{k: v for k, v in training.items() if v is not None}).validate()
        if options["device"] not in (None, "auto", "cpu"):
            from core.models import pick_device

            pick_device(options["device"])  # say "no CUDA here" now, not inside the app
    except AeklError as exc:
        parser.error(exc.message)
    return options


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_options(argv)
    make_app(**options).run()


if __name__ == "__main__":
    main()
