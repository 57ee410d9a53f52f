"""The training screen: the form, the board of the run in view, the status line.

Start (s) launches `aekl train` in a process of its own (tui.launcher) and
then, like every other view in the app, follows the run's folder with a
watcher thread (tui.watcher) that posts one message per event. Stop (x)
signals whichever process trains the run, here or elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import get_current_worker

from core.config import AEConfig
from core.errors import AeklError, BadInput
from core.events import Failed, Finished, Stopped
from tui.control import stop_run
from tui.messages import LaunchFailed, LaunchPhase, RunEnded, RunEpoch, RunProgress, RunStarted
from tui.widgets.digit_strip import DigitStrip
from tui.widgets.run_board import RunBoard
from tui.widgets.status_bar import StatusBar
from tui.widgets.train_form import TrainForm


def short_path(run_dir: str | None) -> str:
    """A run folder as short as it can be said: relative to the cwd when inside it."""
    if not run_dir:
        return "(no run folder)"
    path = Path(run_dir)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class TrainScreen(Screen):
    AUTO_FOCUS = ""  # no field focused: keys work at once; Tab enters the form
    BINDINGS = [
        Binding("s", "start", "Start", tooltip="start a run with the form's values (or Enter in a field)"),
        Binding("x", "stop", "Stop", tooltip="stop: finish the step, write checkpoint and figures"),
        Binding("r", "runs", "Runs", tooltip="the runs screen"),
        Binding("k", "kl", "KL", tooltip="the KL screen"),
        Binding("left", "history(-1)", "Epoch -", show=False, tooltip="the epoch before (when no field has focus)"),
        Binding("right", "history(1)", "Epoch +", show=False, tooltip="the epoch after"),
        Binding("home", "history_at(0)", "First epoch", show=False, tooltip="the first epoch"),
        Binding("end", "history_at(-1)", "Newest epoch", show=False, tooltip="the newest epoch, following it live"),
        Binding("left_square_bracket", "frames(-1)", "Frames back", show=False,
                tooltip="the previous page of decoded frames"),
        Binding("right_square_bracket", "frames(1)", "Frames on", show=False, tooltip="the next page of frames"),
        Binding("escape", "leave_form", "Leave form", show=False, tooltip="leave the form's field"),
    ]

    # "idle", "launching" (process starting), "live" (its folder is followed), "stopping"
    phase: reactive[str] = reactive("idle", bindings=True)

    def __init__(self, config: AEConfig, runs_dir: Path, data_dir: Path | None, start: bool = False) -> None:
        super().__init__()
        self.initial = config
        self.start_at_once = start  # aekl-tui --start
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self.run_dir: str | None = None  # the run on the board
        self.launch = None  # tui.launcher.Launch of the run this app started, if any
        self._epochs = 0

    def compose(self) -> ComposeResult:
        yield TrainForm(self.initial, id="form")
        yield RunBoard(id="board")
        yield StatusBar(id="status")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.start_at_once:
            self.call_after_refresh(self.action_start)  # once the form exists to be read

    @property
    def busy(self) -> bool:
        return self.phase != "idle"

    @property
    def owns_live_run(self) -> bool:
        """A run this app started is still training (quitting should ask about it)."""
        return self.launch is not None and self.busy

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "start":
            return None if self.busy else True  # None: shown, greyed out
        if action == "stop":
            return True if self.phase in ("live", "launching") else None
        return True

    # --- actions ----------------------------------------------------------

    def action_start(self) -> None:
        if self.busy:
            self.notify("A run is already on the board and training; stop it first (x).", severity="warning")
            return
        try:
            config = self.query_one(TrainForm).config()
        except BadInput as exc:
            self.query_one(StatusBar).set(state="idle", error=exc.message)
            self.notify(exc.message, title="Cannot start", severity="error")
            return
        self._launch(config, None)

    def continue_run(self, run_id: str) -> None:
        """Continue a stopped or interrupted run in a new training process."""
        from core.runfolder.runs import open_run
        from core.engine.session import resumable

        if self.busy:
            self.notify("A run is already training here; stop it first.", severity="warning")
            return
        try:
            config = resumable(open_run(run_id, self.runs_dir))
        except AeklError as exc:
            self.notify(exc.message, title="Cannot continue", severity="error")
            return
        self.query_one(TrainForm).fill(config)
        self._launch(config, run_id)

    def _launch(self, config: AEConfig, resume: str | None) -> None:
        from tui.launcher import launch

        self._epochs = config.epochs
        self.query_one(RunBoard).clear()
        self.query_one(StatusBar).reset("loading")
        self.query_one(TrainForm).set_locked(True)
        try:
            self.launch = launch(config, self.runs_dir, self.data_dir, resume)
        except OSError as exc:
            self._end_failed(f"cannot start the training process: {exc.strerror or exc}")
            return
        self.run_dir = str(self.launch.run.path)
        self.phase = "launching"
        self._follow_launch(self.launch)

    def action_stop(self) -> None:
        if self.phase == "launching" and self.launch is not None:
            # Still importing or loading: our own child, so signal it directly
            # (it stops at its first step, or before writing anything).
            self.launch.proc.terminate()
        elif self.phase != "live" or not self.run_dir or not stop_run(self, self.run_dir):
            return
        self.phase = "stopping"
        self.query_one(StatusBar).set(state="stopping", note="finishing the step, writing checkpoint and figures")

    def action_runs(self) -> None:
        from tui.screens.runs import RunsScreen

        self.app.push_screen(RunsScreen(self.runs_dir, self.data_dir))

    def action_kl(self) -> None:
        from tui.screens.kl import KLScreen

        self.app.push_screen(KLScreen())

    def action_history(self, delta: int) -> None:
        self.query_one(RunBoard).move(delta)

    def action_history_at(self, index: int) -> None:
        self.query_one(RunBoard).show(None if index < 0 else index)

    def action_frames(self, delta: int) -> None:
        self.query_one(DigitStrip).turn(delta)

    def action_leave_form(self) -> None:
        self.set_focus(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter in any field starts a run, as a form's submit button would.
        event.stop()
        self.set_focus(None)
        self.action_start()

    # --- the watcher --------------------------------------------------------

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False, description="following the run")
    def _follow_launch(self, launch) -> None:
        from tui.watcher import watch

        worker = get_current_worker()
        self.post_message(LaunchPhase("starting the training process (torch, MNIST)"))
        error = launch.wait_ready(lambda: worker.is_cancelled)
        if error:
            self.post_message(LaunchFailed(error))
            return
        watch(launch.run.path, self.post_message, lambda: worker.is_cancelled)

    def on_launch_phase(self, message: LaunchPhase) -> None:
        self.query_one(StatusBar).set(state="loading", note=message.text)

    def on_launch_failed(self, message: LaunchFailed) -> None:
        if self.phase == "stopping":  # x while it was starting: nothing was written
            self.launch, self.phase = None, "idle"
            self.query_one(TrainForm).set_locked(False)
            self.query_one(StatusBar).set(state="idle", note="stopped before training began")
            return
        self._end_failed(message.text)

    def _end_failed(self, text: str) -> None:
        self.launch = None
        self.phase = "idle"
        self.query_one(TrainForm).set_locked(False)
        self.query_one(StatusBar).set(state="failed", note=None, error=text)
        self.notify(text, title="Training failed", severity="error", timeout=10)

    def _mine(self, message) -> bool:
        return message.run_dir == self.run_dir

    def on_run_started(self, message: RunStarted) -> None:
        if not self._mine(message):
            return
        event = message.event
        self.query_one(RunBoard).clear()
        self._epochs = event.config.epochs
        if self.phase == "launching":
            self.phase = "live"
        self.query_one(StatusBar).set(state="training" if self.phase == "live" else self.phase,
                                      device=event.device, run=short_path(event.run_dir), note=None)

    def on_run_progress(self, message: RunProgress) -> None:
        if not self._mine(message):
            return
        event = message.event
        self.query_one(RunBoard).add_progress(event)
        self.query_one(StatusBar).set(epoch=f"epoch {event.epoch}/{self._epochs}",
                                      step=f"step {event.step}/{event.steps}",
                                      rate=f"{event.samples_per_s:,.0f} img/s")

    def on_run_epoch(self, message: RunEpoch) -> None:
        if not self._mine(message):
            return
        event = message.event
        self.query_one(RunBoard).add_epoch(event)
        self.query_one(StatusBar).set(epoch=f"epoch {event.epoch}/{event.epochs}", step=f"test MSE {event.test_mse:.4f}",
                                      rate=f"{event.samples_per_s:,.0f} img/s")

    def on_run_ended(self, message: RunEnded) -> None:
        if not self._mine(message):
            return
        event, status = message.event, self.query_one(StatusBar)
        self.launch = None
        self.phase = "idle"
        self.query_one(TrainForm).set_locked(False)
        where = short_path(event.run_dir)
        if isinstance(event, Stopped):
            rid = Path(event.run_dir).name
            status.set(state="stopped", step=f"at epoch {event.epoch} step {event.step}", note="resume: r, then c")
            self.notify(f"Checkpoint and figures saved in {where}. Resume from the runs screen (r, then c) "
                        f"or with: aekl train --resume {rid}", title="Stopped")
        elif isinstance(event, Finished):
            status.set(state="finished", step=f"test MSE {event.test_mse:.4f}", note=f"{event.seconds:.1f}s")
            self.notify(f"{len(event.files)} files in {where}.", title="Finished")
        elif isinstance(event, Failed):
            status.set(state=event.status, note=None, error=event.reason)
            self.notify(f"{where}: {event.reason}", title=f"Run {event.status}", severity="error", timeout=10)
