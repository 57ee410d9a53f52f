"""The training screen: the form, the board of the run in view, the status line.

Start (s) launches `aekl train` in a process of its own (tui.launcher) and
then, like every other view in the app, follows the run's folder with a
watcher thread (tui.watcher) that posts one message per event. Stop (x)
signals whichever process trains the run, here or elsewhere.
"""

from __future__ import annotations

import threading
from enum import Enum
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
from core.present.status import live_words
from core.runfolder.schema import Status
from tui.control import stop_run
from tui.messages import LaunchFailed, LaunchPhase, RunEnded, RunEpoch, RunProgress, RunStarted
from tui.widgets.digit_strip import DigitStrip
from tui.widgets.run_board import RunBoard
from tui.widgets.status_bar import StatusBar
from tui.widgets.train_form import TrainForm
from tui.workers import WorkerGuard


class Phase(str, Enum):
    """What the training screen is doing with its run."""

    IDLE = "idle"  # no run of ours trains
    LAUNCHING = "launching"  # its process is starting
    LIVE = "live"  # its folder is followed
    STOPPING = "stopping"  # x was pressed; the run has not ended yet


def short_path(run_dir: str | None) -> str:
    """A run folder as short as it can be said: relative to the cwd when inside it."""
    if not run_dir:
        return "(no run folder)"
    path = Path(run_dir)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class TrainScreen(WorkerGuard, Screen):
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

    phase: reactive[Phase] = reactive(Phase.IDLE, bindings=True)

    def __init__(self, config: AEConfig, runs_dir: Path, data_dir: Path | None, start: bool = False) -> None:
        super().__init__()
        self.initial = config
        self.start_at_once = start  # aekl-tui --start
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self.run_dir: str | None = None  # the run on the board
        self.launch = None  # tui.launcher.Launch of the run this app started, if any
        self._epochs = 0
        self._done = 0  # epochs of the run on the board that have ended
        self._batch = config.batch_size
        self._form_error: str | None = None  # a refused start's message, shown on the status line

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
        return self.phase is not Phase.IDLE

    @property
    def owns_live_run(self) -> bool:
        """A run this app started is still training (quitting should ask about it)."""
        return self.launch is not None and self.busy

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "start":
            return None if self.busy else True  # None: shown, greyed out
        if action == "stop":
            return True if self.phase in (Phase.LIVE, Phase.LAUNCHING) else None
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
            self._form_error = exc.message
            self.notify(exc.message, title="Cannot start", severity="error")
            return
        self._form_error = None
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

        self._epochs, self._batch, self._done = config.epochs, config.batch_size, 0
        self.query_one(RunBoard).clear()
        self.query_one(StatusBar).reset("loading")
        self.query_one(TrainForm).set_locked(True)
        try:
            self.launch = launch(config, self.runs_dir, self.data_dir, resume)
        except OSError as exc:
            self._end_failed(f"cannot start the training process: {exc.strerror or exc}")
            return
        self.run_dir = str(self.launch.run.path)
        self.phase = Phase.LAUNCHING
        self._follow_launch(self.launch)

    def action_stop(self) -> None:
        if self.phase is Phase.LAUNCHING and self.launch is not None:
            # Still importing or loading: our own child, so signal it directly
            # (it stops at its first step, or before writing anything).
            self.launch.proc.terminate()
        elif self.phase is not Phase.LIVE or not self.run_dir or not stop_run(self, self.run_dir):
            return
        self.phase = Phase.STOPPING
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

    def on_train_form_checked(self, event: TrainForm.Checked) -> None:
        # A start refused for a bad field leaves its message on the status line;
        # it follows the form from then on, and goes once the form is good.
        if self.busy or not self._form_error:
            return
        self._form_error = event.problem
        self.query_one(StatusBar).set(error=event.problem)

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
        if self.phase is Phase.STOPPING:  # x while it was starting: nothing was written
            self.launch, self.phase = None, Phase.IDLE
            self.query_one(TrainForm).set_locked(False)
            self.query_one(StatusBar).set(state="idle", note="stopped before training began")
            return
        self._end_failed(message.text)

    def _end_failed(self, text: str) -> None:
        self.launch = None
        self.phase = Phase.IDLE
        self.query_one(TrainForm).set_locked(False)
        self.query_one(StatusBar).set(state=Status.FAILED, note=None, error=text)
        self.notify(text, title="Training failed", severity="error", timeout=10)

    def worker_failed(self, worker, text: str) -> None:
        if worker.group == "watch" and self.phase is not Phase.IDLE:
            self._reap()
            self._end_failed(f"following the run failed: {text}")

    def _reap(self) -> None:
        """Collect our trainer's exit status once it ends, so it does not linger <defunct>."""
        launch = self.launch
        if launch is not None:
            threading.Thread(target=launch.proc.wait, name="reap trainer", daemon=True).start()

    def _mine(self, message) -> bool:
        return message.run_dir == self.run_dir

    def on_run_started(self, message: RunStarted) -> None:
        if not self._mine(message):
            return
        event = message.event
        self.query_one(RunBoard).clear()
        self._epochs, self._batch, self._done = event.config.epochs, event.config.batch_size, 0
        if self.phase is Phase.LAUNCHING:
            self.phase = Phase.LIVE
        self.query_one(StatusBar).set(state=Status.RUNNING if self.phase is Phase.LIVE else self.phase.value,
                                      device=event.device, run=short_path(event.run_dir), note=None,
                                      epoch=live_words(Status.RUNNING, 0, self._epochs)["epoch"])

    def on_run_progress(self, message: RunProgress) -> None:
        if not self._mine(message):
            return
        event = message.event
        self.query_one(RunBoard).add_progress(event)
        words = live_words(Status.RUNNING, self._done, self._epochs, 0, event, self._batch)
        self.query_one(StatusBar).set(epoch=words["epoch"], step=words.get("step"), rate=words.get("rate"),
                                      left=words.get("left"))

    def on_run_epoch(self, message: RunEpoch) -> None:
        if not self._mine(message):
            return
        event = message.event
        self.query_one(RunBoard).add_epoch(event)
        self._done = event.epoch
        self.query_one(StatusBar).set(epoch=live_words(Status.RUNNING, event.epoch, event.epochs)["epoch"],
                                      step=f"test MSE {event.test_mse:.4f}",
                                      rate=f"{event.samples_per_s:,.0f} img/s", left=None)
        if event.note:
            self.notify(event.note, title="History", severity="warning", timeout=10)

    def on_run_ended(self, message: RunEnded) -> None:
        if not self._mine(message):
            return
        event, status = message.event, self.query_one(StatusBar)
        self._reap()
        self.launch = None
        self.phase = Phase.IDLE
        self.query_one(TrainForm).set_locked(False)
        where = short_path(event.run_dir)
        if isinstance(event, Stopped):
            rid = Path(event.run_dir).name
            words = live_words(Status.STOPPED, event.epoch, self._epochs, event.step)
            status.set(state=Status.STOPPED, epoch=words["epoch"], step=f"step {event.step}" if event.step else None,
                       rate=None, note="resume: r, then c", left=None)
            self.notify(f"Checkpoint and figures saved in {where}. Resume from the runs screen (r, then c) "
                        f"or with: aekl train --resume {rid}", title="Stopped")
        elif isinstance(event, Finished):
            status.set(state=Status.FINISHED, epoch=live_words(Status.FINISHED, event.epochs, self._epochs)["epoch"],
                       step=f"test MSE {event.test_mse:.4f}", note=f"{event.seconds:.1f}s", left=None)
            self.notify(f"{len(event.files)} files in {where}.", title="Finished")
        elif isinstance(event, Failed):
            words = live_words(event.status, event.epoch, self._epochs, event.step)
            status.set(state=event.status, epoch=None if event.status.damaged else words["epoch"], step=None,
                       rate=None, note=None, error=event.reason, left=None)
            self.notify(f"{where}: {event.reason}", title=f"Run {event.status}", severity="error", timeout=10)
