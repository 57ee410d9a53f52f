"""aekl-tui: train and watch MNIST autoencoders, and compute KL, in a terminal.

`make_app(**options)` builds the app for `main()` and for the tests alike.
Options are the command-line flags: runs_dir, data_dir, start, attach, and
any AEConfig field (latent, kind, epochs, batch_size, lr, subset, device,
seed; tests also pass e.g. hidden) to prefill the training form.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional, Sequence

import typer
from textual.app import App
from textual.binding import Binding

from core.cli import options as opt
from core.config import AEConfig
from core.runfolder.runs import DEFAULT_ROOT
from tui.messages import ContinueRun
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

    def __init__(self, config: AEConfig, runs_dir: Path, data_dir: Path | None, start: bool = False,
                 attach: str | None = None) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self.attach = attach
        self.config = config  # what the form shows at start
        self._trainer = TrainScreen(config, self.runs_dir, data_dir, start)

    def get_default_screen(self) -> TrainScreen:
        return self._trainer

    def on_mount(self) -> None:
        if self.attach:
            from tui.screens.run_detail import RunDetailScreen

            self.push_screen(RunDetailScreen(self.attach, self.runs_dir, self.data_dir))

    def on_continue_run(self, message: ContinueRun) -> None:
        """A screen asks to continue a run: it trains from the training screen."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self._trainer.continue_run(message.run_id)

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    async def action_quit(self) -> None:
        from tui.screens.confirm import Confirm

        trainer = self._trainer
        if not trainer.owns_live_run:
            self.exit()
            return
        if isinstance(self.screen, Confirm):
            return

        def answer(choice: str | None) -> None:
            if choice == "leave":
                self.exit()
            elif choice == "stop":
                trainer.action_stop()
                self.exit()

        self.push_screen(Confirm(
            "This app started a run that is still training. Stop it (checkpoint and figures are saved), "
            "or leave it training (watch it again with aekl-tui --attach)?",
            [("s", "Stop it", "stop"), ("l", "Leave it training", "leave"), ("escape", "Cancel", "")]), answer)


def make_app(runs_dir: str | Path | None = None, data_dir: str | Path | None = None,
             start: bool = False, attach: str | None = None, **training: Any) -> AeklApp:
    """The app, its form prefilled with `training` (AEConfig fields; None means default)."""
    unknown = sorted(set(training) - CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"unknown training options: {', '.join(unknown)}")
    config = AEConfig(**{k: v for k, v in training.items() if v is not None})
    return AeklApp(config, Path(runs_dir) if runs_dir else DEFAULT_ROOT,
                   Path(data_dir) if data_dir else None, start, attach)


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="rich")


@cli.command(help="Train and watch MNIST autoencoders, and compute KL, in a terminal.")
def options(
    out_dir: Path = opt.OUT,
    data_dir: Optional[Path] = opt.DATA_DIR,
    attach: Optional[str] = typer.Option(None, help="Open this run at once (live, or replayed if it has ended)."),
    start: bool = typer.Option(False, help="Start training at once."),
    latent: int = opt.LATENT,
    kind: str = opt.KIND,
    epochs: int = opt.EPOCHS,
    batch_size: int = opt.BATCH_SIZE,
    lr: float = opt.LR,
    subset: Optional[int] = opt.SUBSET,
    device: str = opt.DEVICE,
    seed: int = opt.SEED,
) -> dict[str, Any]:
    """Check the flags as `aekl train` would; return make_app's options."""
    from core.runfolder.runs import check_run_id

    training = dict(latent=latent, kind=kind, epochs=epochs, batch_size=batch_size, lr=lr, subset=subset,
                    device=device, seed=seed)
    AEConfig(**{k: v for k, v in training.items() if v is not None}).validate()
    if device not in ("auto", "cpu"):
        from core.nn.models import pick_device

        pick_device(device)  # say "no CUDA here" now, not inside the app
    if attach:
        check_run_id(attach)  # a run that does not exist yet is waited for (tui.watcher)
    return dict(runs_dir=out_dir, data_dir=data_dir, attach=attach, start=start, **training)


def parse_options(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Flags -> make_app options. Bad input: one line on stderr, exit 2 (as `aekl`)."""
    from typer._click.exceptions import UsageError

    from core.cli.base import cli_message, error_line_for, rejected_value
    from core.errors import AeklError, ExitCode

    command = typer.main.get_command(cli)
    try:
        return command.main(list(sys.argv[1:] if argv is None else argv), prog_name="aekl-tui",
                            standalone_mode=False)
    except AeklError as exc:
        error_line_for("aekl-tui", cli_message(exc))
        sys.exit(int(exc.exit_code))
    except UsageError as exc:
        error_line_for("aekl-tui", exc.format_message() + rejected_value(exc))
        sys.exit(int(ExitCode.USAGE))


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_options(argv)
    if not isinstance(options, dict):  # --help printed its text and returned an exit code
        return
    make_app(**options).run()


if __name__ == "__main__":
    main()
