"""aekl-tui: train and watch MNIST autoencoders, and compute KL, in a terminal.

`make_app(**options)` builds the app for `main()` and for the tests alike.
Options are the command-line flags: runs_dir, data_dir, start, attach, a
config, and any AEConfig field to prefill the training form. The flags are
made from the option table in core/config.py, as `aekl train`'s are, so the
app takes every training flag the CLI takes (and imports no CLI module).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Sequence

import typer
from textual.app import App
from textual.binding import Binding

from core.config import FOLDER, OPTIONS, RUNS_DIR, AEConfig, cli_message, cli_params, config_with, place_params
from core.options import takes
from tui.messages import ContinueRun
from tui.screens.training import TrainScreen



class AeklApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "aekl"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False, tooltip="quit (asks first while a run trains)"),
        Binding("q", "quit", "Quit", tooltip="quit (asks first while a run trains)"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
        Binding("f1", "help", "Help", show=False, tooltip="this help"),
        Binding("t", "toggle_theme", "Theme", show=False, tooltip="light or dark theme"),
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
        run_id = Path(trainer.run_dir).name

        def answer(choice: str | None) -> None:
            if choice == "leave":
                self.exit(result=attach_note(run_id, self.runs_dir))
            elif choice == "stop":
                trainer.action_stop()
                self.exit()

        self.push_screen(Confirm(quit_question(run_id), QUIT_ANSWERS), answer)


QUIT_ANSWERS = [("s", "Stop it", "stop"), ("l", "Leave it training", "leave"), ("escape", "Cancel", "")]


def quit_question(run_id: str) -> str:
    return (f"Run {run_id} is still training. Stop it (checkpoint and figures are saved), "
            "or leave it training (watch it again with aekl-tui --attach)?")


def attach_note(run_id: str, runs_dir: Path) -> str:
    """What `aekl-tui` prints on leaving a run training: its id and how to watch it again."""
    out = "" if Path(runs_dir) == Path(RUNS_DIR) else f" --out {runs_dir}"
    return f"Run {run_id} is still training. Watch it again with:\n  aekl-tui --attach {run_id}{out}"


def make_app(runs_dir: str | Path | None = None, data_dir: str | Path | None = None,
             start: bool = False, attach: str | None = None, config: AEConfig | None = None,
             **training: Any) -> AeklApp:
    """The app, its form showing `config` (default AEConfig()) with `training` (AEConfig fields,
    None meaning "as in config") replaced."""
    unknown = sorted(set(training) - set(OPTIONS))
    if unknown:
        raise TypeError(f"unknown training options: {', '.join(unknown)}")
    config = replace(config or AEConfig(), **{k: v for k, v in training.items() if v is not None})
    return AeklApp(config, Path(runs_dir) if runs_dir else RUNS_DIR,
                   Path(data_dir) if data_dir else None, start, attach)


cli = typer.Typer(pretty_exceptions_enable=False, rich_markup_mode="rich")


@cli.command(help="Train and watch MNIST autoencoders, and compute KL, in a terminal. "
                  "Takes every training flag of `aekl train`; they fill the training form.")
@takes([*place_params(), *cli_params()], typer.Option)
def options(
    ctx: typer.Context,
    *,
    attach: Optional[str] = typer.Option(None, help="Open this run at once (live, or replayed if it has ended)."),
    start: bool = typer.Option(False, help="Start training at once."),
    config_file: Optional[Path] = typer.Option(None, "--config", rich_help_panel=FOLDER,
                                               help="Fill the form from this config file (a run's config.json, "
                                                    "say); flags given as well override it."),
    **values: Any,
) -> dict[str, Any]:
    """Check the flags as `aekl train` would; return make_app's options."""
    from core.runfolder.runs import check_run_id

    base = AEConfig.from_file(config_file) if config_file else AEConfig()
    typed = {n: values[n] for n in OPTIONS if ctx.get_parameter_source(n).name == "COMMANDLINE"}
    config = config_with(base, typed, here=True)
    if config.device not in ("auto", "cpu"):
        from core.nn.models import pick_device

        pick_device(config.device)  # say "no CUDA here" now, not inside the app
    out_dir = values["runs_dir"]
    if attach:
        check_run_id(attach)  # a run that does not exist yet is waited for (tui.watcher)
    return dict(runs_dir=out_dir, data_dir=values["data_dir"], attach=attach, start=start, config=config)


def parse_options(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Flags -> make_app options. Bad input: one line on stderr, exit 2 (as `aekl`)."""
    from core.errors import AeklError, ExitCode, rejected_value

    command = typer.main.get_command(cli)
    try:
        return command.main(list(sys.argv[1:] if argv is None else argv), prog_name="aekl-tui",
                            standalone_mode=False)
    except AeklError as exc:
        error_line("aekl-tui", cli_message(exc))
        sys.exit(int(exc.exit_code))
    except typer.TyperException as exc:  # a bad flag or value, as Typer words it
        error_line("aekl-tui", exc.format_message() + rejected_value(exc))
        sys.exit(int(getattr(exc, "exit_code", 0) or ExitCode.USAGE))


def error_line(prog: str, message: str) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the app (see tui.entry: a crash is one line and exit 1)."""
    from tui.entry import run_app

    run_app(argv)


if __name__ == "__main__":
    main()
