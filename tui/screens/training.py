"""The training screen: the form, the live charts, the digit strip, the status line.

It owns the training worker. The worker (a thread) runs tui.trainer and only
posts messages; the handlers below update the widgets. The charts throttle
their own redraws, so a fast stream of progress messages costs the training
thread almost nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import Worker, WorkerState

from core.config import AEConfig
from core.errors import BadInput
from tui.messages import TrainEvent, TrainFailed, TrainPhase
from tui.trainer import TrainRequest, run_training
from tui.widgets.digit_strip import DigitStrip
from tui.widgets.latent_scatter import LatentScatter
from tui.widgets.loss_chart import LossChart
from tui.widgets.status_bar import StatusBar
from tui.widgets.train_form import TrainForm


class TrainScreen(Screen):
    AUTO_FOCUS = ""  # no field focused: keys work at once; Tab enters the form
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop"),
        Binding("r", "runs", "Runs"),
        Binding("k", "kl", "KL"),
        Binding("escape", "leave_form", "Leave form", show=False),
    ]

    def __init__(self, config: AEConfig, runs_dir: Path, data_dir: Path | None, start: bool = False) -> None:
        super().__init__()
        self.initial = config
        self.start_at_once = start  # aekl-tui --start
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self.training = False  # a worker is alive (loading, training or stopping)
        self.quit_when_done = False
        self.run_dir: str | None = None
        self.last_event = None  # the last engine event handled (tests read it)
        self.milestones: list = []  # Started / Stopped / Finished of the current run
        self.epoch_rates: list[float] = []  # samples/s of each finished epoch
        self.progress_seen = 0
        self._stop = threading.Event()
        self._epochs = 0

    def compose(self) -> ComposeResult:
        yield TrainForm(self.initial, id="form")
        with Vertical(id="board"):
            with Horizontal(id="charts"):
                yield LossChart(id="loss", classes="panel")
                yield LatentScatter(id="scatter", classes="panel")
            yield DigitStrip(id="strip", classes="panel")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        if self.start_at_once:
            self.call_after_refresh(self.action_start)  # once the form exists to be read

    # --- actions ----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "start":
            return None if self.training else True  # None: shown, greyed out
        if action == "stop":
            return True if self.training and not self._stop.is_set() else None
        return True

    def action_start(self) -> None:
        if self.training:
            self.notify("A run is already training; stop it first (x).", severity="warning")
            return
        form = self.query_one(TrainForm)
        try:
            config = form.config()
        except BadInput as exc:
            self.query_one(StatusBar).set(state="idle", error=exc.message)
            self.notify(exc.message, title="Cannot start", severity="error")
            return
        self._begin(TrainRequest(config, self.runs_dir, self.data_dir))

    def resume(self, run_id: str) -> None:
        """Continue a stopped run (from the runs screen), with its own config."""
        from core.runs import open_run

        if self.training:
            self.notify("A run is already training; stop it first.", severity="warning")
            return
        run = open_run(run_id, self.runs_dir)
        self.query_one(TrainForm).fill(run.config())
        self._begin(TrainRequest(run.config(), self.runs_dir, self.data_dir, resume=run_id))
        # show the epochs already done so the chart continues rather than restarts
        self.query_one(LossChart).set_history(run.metrics())

    def action_stop(self) -> None:
        if not self.training or self._stop.is_set():
            return
        self._stop.set()
        self.query_one(StatusBar).set(state="stopping", note="finishing the step, writing checkpoint and figures")
        self.refresh_bindings()

    def stop_and_quit(self) -> None:
        """Stop gracefully, then leave the app once the worker has written its files."""
        self.quit_when_done = True
        self.action_stop()

    def action_runs(self) -> None:
        from tui.screens.runs import RunsScreen

        self.app.push_screen(RunsScreen(self.runs_dir, self.data_dir))

    def action_kl(self) -> None:
        from tui.screens.kl import KLScreen

        self.app.push_screen(KLScreen())

    def action_leave_form(self) -> None:
        self.set_focus(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter in any field starts a run, as a form's submit button would.
        event.stop()
        self.set_focus(None)
        self.action_start()

    # --- the worker ---------------------------------------------------------

    def _begin(self, request: TrainRequest) -> None:
        self._stop = threading.Event()
        self.training = True
        self.run_dir, self.last_event, self.milestones = None, None, []
        self.epoch_rates, self.progress_seen = [], 0
        self._epochs = request.config.epochs
        self.query_one(TrainForm).set_locked(True)
        self.query_one(LossChart).clear()
        self.query_one(LatentScatter).clear()
        self.query_one(DigitStrip).clear()
        self.query_one(StatusBar).reset("loading")
        self.refresh_bindings()
        self._train(request, self._stop)

    @work(thread=True, exclusive=True, group="train", exit_on_error=False, description="training")
    def _train(self, request: TrainRequest, stop: threading.Event) -> None:
        run_training(request, self.post_message, stop)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "train" or not event.worker.is_finished:
            return
        if event.state == WorkerState.ERROR:  # run_training catches everything; belt and braces
            self._failed(f"{type(event.worker.error).__name__}: {event.worker.error}")
        self.training = False
        self.query_one(TrainForm).set_locked(False)
        status = self.query_one(StatusBar)
        if status.fields.get("state") in ("loading", "training", "stopping"):
            status.set(state="idle", note="stopped before training began" if self._stop.is_set() else None)
        self.refresh_bindings()
        if self.quit_when_done:
            self.app.exit()

    def on_train_phase(self, message: TrainPhase) -> None:
        if not self._stop.is_set():
            self.query_one(StatusBar).set(state="loading", note=message.text)

    def on_train_failed(self, message: TrainFailed) -> None:
        self._failed(message.message)

    def _failed(self, text: str) -> None:
        self.query_one(StatusBar).set(state="failed", note=None, error=text)
        self.notify(text, title="Training failed", severity="error", timeout=10)

    def on_train_event(self, message: TrainEvent) -> None:
        from core.train import EpochEnd, Finished, Progress, Started, Stopped

        event = message.event
        self.last_event = event
        if isinstance(event, (Started, Stopped, Finished)):
            self.milestones.append(event)
        status = self.query_one(StatusBar)
        if isinstance(event, Progress):
            self.progress_seen += 1
            self.query_one(LossChart).add_step(event.epoch, event.step, event.steps, event.loss)
            status.set(epoch=f"epoch {event.epoch}/{self._epochs}", step=f"step {event.step}/{event.steps}",
                       rate=f"{event.samples_per_s:,.0f} img/s")
        elif isinstance(event, EpochEnd):
            self.epoch_rates.append(event.samples_per_s)
            self.query_one(LossChart).add_epoch(event.epoch, event.train_loss, event.test_loss)
            self.query_one(LatentScatter).set_codes(event.codes, event.labels)
            i, j = event.pair
            self.query_one(DigitStrip).set_frames(
                event.frames, f"epoch {event.epoch}: decoded line from test #{i} to #{j}")
            status.set(epoch=f"epoch {event.epoch}/{event.epochs}", step=f"test MSE {event.test_mse:.4f}",
                       rate=f"{event.samples_per_s:,.0f} img/s")
        elif isinstance(event, Started):
            self.run_dir = event.run_dir
            self._epochs = event.config["epochs"]
            status.set(state="training" if not self._stop.is_set() else "stopping", device=event.device,
                       run=self._where(event.run_dir), note=None if not self._stop.is_set() else status.fields.get("note"))
        elif isinstance(event, Stopped):
            rid = Path(event.run_dir).name if event.run_dir else "?"
            status.set(state="stopped", step=f"at epoch {event.epoch} step {event.step}", note="resume: r, then c")
            self.notify(f"Checkpoint and figures saved in {self._where(event.run_dir)}. Resume from the runs "
                        f"screen (r, then c) or with: aekl train --resume {rid}", title="Stopped")
        elif isinstance(event, Finished):
            status.set(state="finished", step=f"test MSE {event.test_mse:.4f}", note=f"{event.seconds:.1f}s")
            self.notify(f"{len(event.files)} files in {self._where(event.run_dir)}.", title="Finished")

    def _where(self, run_dir: str | None) -> str:
        """The run folder as short as it can be said: relative to the cwd when inside it."""
        if not run_dir:
            return "(no run folder)"
        path = Path(run_dir)
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)

    def on_unmount(self) -> None:
        # The app is going away (tests, a crash): let the thread end soon; the
        # engine writes a checkpoint on its way out.
        self._stop.set()
