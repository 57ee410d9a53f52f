"""One run, live or ended: its board followed from the folder, its history,
and interpolations decoded on demand.

A watcher thread replays the run's events from its first epoch and keeps
following while it trains (the same path as the training screen). ←/→,
home and end move through the epochs. The decoded pair comes from
checkpoint.pt: a worker loads the model and the test set once, then each
pair of test indices the user types is one small decode.

The posterior inspector works from the same loaded model: a test index typed
in the inspect field gives that image's q(z|x) (core.nn.posterior), shown as the
digit beside mu, sigma and the KL of each dimension, with its 1-sigma ellipse
on a 2-D scatter; k carries it into the KL screen, and v shows traversals
around it for latent sizes above two (not t: that is the app's theme key).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static
from textual.worker import get_current_worker

from core.errors import AeklError
from core.events import Failed, Finished, Progress, Stopped
from core.nn.posterior import Posterior
from core.present.status import fit_line, live_words
from core.runfolder.schema import Status
from tui.control import stop_run
from tui.screens.back import LeaveFieldFirst
from tui.messages import ContinueRun, RunEnded, RunEpoch, RunProgress, RunStarted
from tui.throttle import Throttle
from tui.watcher import ATTACH_WAIT_S, RunMissing, RunWaiting
from tui.workers import WorkerGuard
from tui.widgets.digit_strip import DigitStrip
from tui.widgets.latent_scatter import LatentScatter
from tui.widgets.posterior_view import PosteriorView
from tui.widgets.run_board import RunBoard


class Decoded(Message):
    def __init__(self, frames: np.ndarray, pair: tuple[int, int], digits: tuple[int, int]) -> None:
        super().__init__()
        self.frames, self.pair, self.digits = frames, pair, digits


class DecodeFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Inspected(Message):
    def __init__(self, posterior: Posterior) -> None:
        super().__init__()
        self.posterior = posterior


class InspectFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Traversed(Message):
    def __init__(self, order: list[int], images: np.ndarray, kl_per_dim, index: int, digit: int) -> None:
        super().__init__()
        self.order, self.images, self.kl_per_dim, self.index, self.digit = order, images, kl_per_dim, index, digit


class PointDecoded(Message):
    def __init__(self, z: tuple[float, float], image: np.ndarray) -> None:
        super().__init__()
        self.z, self.image = z, image


STEPS_ACROSS = 20  # a cursor step is this fraction of the scatter's extent


class RunDetailScreen(WorkerGuard, LeaveFieldFirst, Screen):
    AUTO_FOCUS = ""  # arrows move through epochs; Tab reaches the index fields
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="leave the field, or go back to the previous screen"),
        Binding("left", "history(-1)", "Epoch -", tooltip="the epoch before (when no field has focus)"),
        Binding("right", "history(1)", "Epoch +", tooltip="the epoch after"),
        # while exploring the same keys move the cursor, and the footer says so
        Binding("left", "cursor(-1, 0)", "Move", tooltip="exploring: the cursor left (arrows move it)"),
        Binding("right", "cursor(1, 0)", "Move", show=False, tooltip="exploring: the cursor right"),
        Binding("home", "history_at(0)", "First", show=False, tooltip="the first epoch"),
        Binding("end", "history_at(-1)", "Newest", show=False, tooltip="the newest epoch, following it live"),
        Binding("left_square_bracket", "frames(-1)", "Frames back", show=False,
                tooltip="the previous page of decoded frames"),
        Binding("right_square_bracket", "frames(1)", "Frames on", show=False, tooltip="the next page of frames"),
        Binding("x", "stop", "Stop", tooltip="stop the run: finish the step, write checkpoint and figures"),
        Binding("c", "resume", "Continue", tooltip="continue a stopped run from its checkpoint"),
        Binding("k", "kl_screen", "KL of q(z|x)", tooltip="the KL screen filled with the inspected posterior"),
        Binding("v", "traversals", "Traversals", tooltip="traversals around the inspected image (VAE above 2-D)"),
        Binding("e", "explore", "Explore", tooltip="2-D codes: a cursor on the scatter (arrows move it, e or Esc "
                "leaves) and the decoder's image of that point"),
        Binding("e", "leave_explore", "Leave", tooltip="stop exploring: the arrows move through epochs again"),
        Binding("enter", "pick", "Pick", tooltip="exploring: the test image nearest the cursor becomes an end of "
                "the decoded line (two picks make a line)"),
        Binding("up", "cursor(0, 1)", "Up", show=False, tooltip="exploring: the cursor up"),
        Binding("down", "cursor(0, -1)", "Down", show=False, tooltip="exploring: the cursor down"),
    ]

    # the run's status as last seen (None: not read yet); stopping: x was pressed, the run has not ended yet
    state: reactive[Status | None] = reactive(None, bindings=True)
    stopping: reactive[bool] = reactive(False, bindings=True)

    def __init__(self, run_id: str, runs_dir: Path, data_dir: Path | None) -> None:
        super().__init__()
        self.run_id = run_id
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self.run_dir = str(self.runs_dir / run_id)
        self._loaded = None  # (model, config, test_x, test_y), filled by the worker
        self._load_lock = threading.Lock()
        self.decoded: tuple[int, int] | None = None  # last pair shown
        self._title = run_id
        self.kind, self.latent = "ae", 2  # from config.json once mounted
        self.posterior: Posterior | None = None  # the inspected test image's q(z|x)
        self.planned: int | None = None  # epochs in the run's config
        self.batch_size: int | None = None
        self.progress: Progress | None = None  # the last Progress event
        self.reason = ""  # why the run failed, was interrupted or is damaged
        self.end_step = 0  # steps done after the last whole epoch, when it ended part-way
        self.missing = False  # the run's folder never appeared
        self.pair_asked: tuple[int | None, int | None] = (None, None)  # the config's interpolation ends
        self.exploring = False  # arrows move a cursor over the 2-D scatter instead of the epochs
        self.picked: int | None = None  # the last test image picked while exploring: the next line's start

    def compose(self) -> ComposeResult:
        yield Static(self.run_id, id="detail-title", classes="screen-title")
        yield Static("", id="run-reason")  # why a run failed, for as long as the screen is open
        yield RunBoard(id="board")
        yield PosteriorView(id="posterior")
        with Horizontal(id="pair-row"):
            # short labels: at 80 columns the note beside them needs the room (help says the rest)
            yield Label("decode test #", classes="form-label")
            yield Input(compact=True, id="pair-from", classes="form-input pair-input", type="integer")
            yield Label("to #", classes="form-label")
            yield Input(compact=True, id="pair-to", classes="form-input pair-input", type="integer")
            yield Label("inspect #", classes="form-label")
            yield Input(compact=True, id="inspect-index", classes="form-input pair-input", type="integer")
            yield Static("Enter: decode", id="pair-note")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # Nothing is read here: the watcher thread reads the folder (waiting for
        # it if it is still being made) and its first event carries the config.
        self.query_one(PosteriorView).display = False
        self._progress_title = Throttle(self, self._set_title, gap=1.0)  # steps arrive faster than eyes read
        self.query_one("#run-reason").display = False
        self._set_title()
        self._watch(self.run_dir)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # hidden, not greyed: on a finished run neither key means anything
        if action == "stop":
            return self.state is Status.RUNNING and not self.stopping
        if action == "resume":  # only where it can work: an ended run with a checkpoint to go on from
            return (self.state is not None and self.state.resumable
                    and (Path(self.run_dir) / "checkpoint.pt").is_file())
        if action == "kl_screen":
            return self.kind == "vae"
        if action == "traversals":
            return self.kind == "vae" and self.latent > 2
        if action in ("pick", "cursor", "leave_explore"):
            return self.exploring
        if action == "history":
            return not self.exploring
        if action == "explore":  # only where there are codes to walk among and a decoder to draw them
            return (not self.exploring and self.latent == 2 and self.state is not None and not self.state.damaged
                    and any(len(e.codes) for board in self.query(RunBoard) for e in board.epochs)
                    and (Path(self.run_dir) / "checkpoint.pt").is_file())
        return True

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False, description="following the run")
    def _watch(self, run_dir: str) -> None:
        from tui.watcher import watch

        worker = get_current_worker()
        watch(run_dir, self.post_message, lambda: worker.is_cancelled, wait=ATTACH_WAIT_S)

    def on_run_waiting(self, message: RunWaiting) -> None:
        self.reason = message.text
        self._set_title()

    def on_run_missing(self, message: RunMissing) -> None:
        self.reason, self.missing = message.text, True
        self._set_title()
        self.notify(message.text, title="No such run", severity="error", timeout=10)

    def _set_title(self) -> None:
        """The run header: status, epoch k of N (done), step, images/s, time left;
        the epoch on the board when it is not the newest."""
        board = self.query_one(RunBoard)
        done = len(board.epochs)
        words = live_words(self.state or Status.NEW, done, self.planned, self.end_step, self.progress,
                           self.batch_size)
        state = ("missing" if self.missing else "loading") if self.state is None else \
            "stopping" if self.stopping else self.state.word
        if self.state is Status.DAMAGED:
            words = {"epoch": "-"}
        shown = board.shown_epoch
        parts = [("id", self._title), ("state", state), ("epoch", words["epoch"]), ("step", words.get("step", "")),
                 ("rate", words.get("rate", "")), ("left", words.get("left", "")),
                 ("shown", f"showing epoch {shown}" if shown is not None and shown != done else ""),
                 ("reason", self.reason)]
        width = self.size.width - 2 if self.size.width else 10_000
        self.query_one("#detail-title", Static).update(fit_line(parts, width, ("rate", "step", "left")))

    def watch_state(self) -> None:
        if self.is_mounted:
            self._set_title()

    def worker_failed(self, worker, text: str) -> None:
        if worker.group == "watch":  # nothing follows the run any more: say so, offer no Stop
            self.stopping, self.reason = False, text
            self.state = Status.DAMAGED

    def on_run_started(self, message: RunStarted) -> None:
        config = message.event.config
        self.kind, self.latent, self.planned, self.batch_size = (config.kind, config.latent, config.epochs,
                                                                 config.batch_size)
        self.pair_asked = (config.interp_from, config.interp_to)
        self.refresh_bindings()
        self.query_one(RunBoard).clear()
        self.progress, self.reason = None, ""
        if self.state is None:
            self.state = Status.RUNNING  # until the final event says otherwise
        self._set_title()

    def on_run_progress(self, message: RunProgress) -> None:
        self.query_one(RunBoard).add_progress(message.event)
        self.progress = message.event
        self._progress_title.request()

    def on_run_epoch(self, message: RunEpoch) -> None:
        self.query_one(RunBoard).add_epoch(message.event)
        if message.event.note:
            self.notify(message.event.note, title="History", severity="warning", timeout=10)
        self._set_title()

    def on_run_ended(self, message: RunEnded) -> None:
        event = message.event
        self.stopping = False
        self.end_step = getattr(event, "step", 0)
        if isinstance(event, Finished):
            self.state = Status.FINISHED
        elif isinstance(event, Stopped):
            self.state = Status.STOPPED
        elif isinstance(event, Failed):
            self.reason = event.reason
            self.state = event.status
            reason = self.query_one("#run-reason", Static)
            reason.update(f"{event.status}: {event.reason}")
            reason.display = True
            self.notify(event.reason, title=f"Run {event.status}", severity="error", timeout=10)
        board = self.query_one(RunBoard)
        if self.state.damaged and not any(len(e.frames) for e in board.epochs):
            self.query_one(DigitStrip).clear("no interpolation: the run is damaged (the reason is above)",
                                             error=True, empty="")
        self.refresh_bindings()  # explore depends on the state and the epochs read
        if any(len(e.frames) for e in board.epochs) or self.decoded is not None or self.state.damaged:
            return
        # A run from before aekl kept per-epoch snapshots: decode its pair from the checkpoint.
        self.query_one(DigitStrip).set_caption("interpolation: loading the checkpoint ...")
        self._decode(*self.pair_asked)

    def action_history(self, delta: int) -> None:
        self.query_one(RunBoard).move(delta)
        self._set_title()

    def action_history_at(self, index: int) -> None:
        self.query_one(RunBoard).show(None if index < 0 else index)
        self._set_title()

    # exploring the latent plane
    def action_explore(self) -> None:
        scatter = self.query_one(LatentScatter)
        if scatter.points is None:
            self._note("no latent codes drawn yet to explore", error=True)
            return
        self._set_exploring(True)
        self.picked = None
        lo, hi = scatter.points.min(axis=0), scatter.points.max(axis=0)
        self._step = (hi - lo) / STEPS_ACROSS
        self._move_to((lo + hi) / 2)

    def action_leave_explore(self) -> None:
        self._set_exploring(False)
        self.query_one(LatentScatter).set_cursor(None)
        self._note("Enter: decode")

    def _set_exploring(self, on: bool) -> None:
        self.exploring = on
        self.refresh_bindings()  # the footer's arrows and e change meaning

    def action_back(self) -> None:
        if self.exploring and not isinstance(self.focused, Input):
            self.action_leave_explore()  # Esc leaves exploring before it leaves the screen
            return
        super().action_back()

    def action_cursor(self, dx: int, dy: int) -> None:
        scatter = self.query_one(LatentScatter)
        if self.exploring and scatter.cursor is not None:
            self._move_to(np.asarray(scatter.cursor) + self._step * np.array([dx, dy]))

    def action_pick(self) -> None:
        """The test image whose code (at the epoch shown) is nearest the cursor becomes
        an end of the decoded line: the first pick waits for the second, which draws
        the line and ends exploring (codes are of the first test images, so a code's
        row is its test index)."""
        board, scatter = self.query_one(RunBoard), self.query_one(LatentScatter)
        shown = board.epochs[-1 if board.at is None else board.at] if board.epochs else None
        if shown is None or not len(shown.codes) or scatter.cursor is None:
            return
        index = int(np.argmin(((shown.codes - np.asarray(scatter.cursor)) ** 2).sum(axis=1)))
        digit = int(shown.labels[index])
        start, self.picked = self.picked, index
        if start is None or start == index:
            self._note(f"picked test #{index} (a {digit}); move, and Enter picks the other end")
            return
        self.query_one("#pair-from", Input).value = str(start)
        self.query_one("#pair-to", Input).value = str(index)
        self.action_leave_explore()  # the strip shows the line now; e explores again
        self._note(f"decoding #{start} to #{index} (a {digit}) ...")
        self._decode(start, index)

    def _move_to(self, z) -> None:
        z = (float(z[0]), float(z[1]))
        self.query_one(LatentScatter).set_cursor(z)
        self._note("exploring: arrows move, Enter picks an end, e leaves")
        self._decode_point(z)

    @work(thread=True, exclusive=True, group="explore", exit_on_error=False)
    def _decode_point(self, z: tuple[float, float]) -> None:
        try:
            import torch

            from core.nn.latent import decode

            model, _, _ = self._model()
            image = decode(model, torch.tensor([z], dtype=torch.float32)).reshape(28, 28).cpu().numpy()
            self.post_message(PointDecoded(z, image))
        except AeklError as exc:
            self.post_message(DecodeFailed(exc.message))
        except Exception as exc:  # keep the screen alive; say what broke
            self.post_message(DecodeFailed(f"{type(exc).__name__}: {exc}"))

    def on_point_decoded(self, message: PointDecoded) -> None:
        if not self.exploring or self.query_one(LatentScatter).cursor != message.z:
            return  # left, or the cursor has moved on since: a newer image is coming
        x, y = message.z
        self.query_one(PosteriorView).display = False
        self.query_one(DigitStrip).display = True
        self.query_one(DigitStrip).set_frames(message.image[None], f"the checkpoint's decoder at z = ({x:.3g}, {y:.3g})",
                                              now=True)

    def action_frames(self, delta: int) -> None:
        self.query_one(DigitStrip).turn(delta)

    def action_stop(self) -> None:
        if stop_run(self, self.run_dir):
            self.stopping = True
            self._set_title()

    def action_resume(self) -> None:
        self.post_message(ContinueRun(self.run_id))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in ("pair-from", "pair-to"):
            self.query_one(DigitStrip).forget_error()  # the error was about the old pair

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "inspect-index":
            self._submit_inspect(event.value.strip())
            return
        texts = [self.query_one(f"#pair-{k}", Input).value.strip() for k in ("from", "to")]
        try:
            i, j = (int(t) if t else None for t in texts)
        except ValueError:
            self._note("test indices are whole numbers", error=True)
            return
        self._note("decoding ...")
        self.set_focus(None)  # hand the keys back to the screen: ←/→ move through epochs again
        self._decode(i, j)

    def _note(self, text: str, error: bool = False) -> None:
        note = self.query_one("#pair-note", Static)
        note.update(text)
        note.set_class(error, "-error")

    @work(thread=True, exclusive=True, group="decode", exit_on_error=False)
    def _decode(self, i: int | None, j: int | None) -> None:
        try:
            model, test_x, test_y = self._model()
            from core.nn.latent import check_index, decode, encode, interpolation_pair, path_points

            for index in (i, j):
                if index is not None:
                    check_index(index, len(test_y), "test index")
            a, b = interpolation_pair(test_y, i, j)
            z0, z1 = encode(model, test_x[[a, b]])
            frames = decode(model, path_points(z0, z1, self._steps)).reshape(-1, 28, 28).cpu().numpy()
            self.post_message(Decoded(frames, (a, b), (int(test_y[a]), int(test_y[b]))))
        except AeklError as exc:
            self.post_message(DecodeFailed(exc.message))
        except Exception as exc:  # keep the screen alive; say what broke
            self.post_message(DecodeFailed(f"{type(exc).__name__}: {exc}"))

    def _model(self):
        """Load the run's model and the test set once (runs in the worker thread)."""
        with self._load_lock:  # the decode, inspect and traversal workers may ask at once
            return self._load()

    def _load(self):
        if self._loaded is None:
            from core.data.mnist import load_mnist
            from core.nn.models import load_trained
            from core.runfolder.runs import open_run

            run = open_run(self.run_id, self.runs_dir)
            model, config = load_trained(run, "cpu")
            data = load_mnist(self.data_dir, "cpu", subset=1)  # only the test split is used
            self._steps = config.interp_steps
            self._loaded = (model, data.test_x, data.test_y)
        return self._loaded

    def on_decoded(self, message: Decoded) -> None:
        (a, b), (da, db) = message.pair, message.digits
        self.decoded = message.pair
        self.query_one(PosteriorView).display = False
        self.query_one(DigitStrip).display = True
        self.query_one(DigitStrip).set_frames(
            message.frames, f"decoded line from test #{a} (a {da}) to #{b} (a {db})", now=True)
        self.query_one("#pair-from", Input).value = str(a)
        self.query_one("#pair-to", Input).value = str(b)
        self._note("Enter: decode")

    def on_decode_failed(self, message: DecodeFailed) -> None:
        strip = self.query_one(DigitStrip)
        if strip.frames is None:
            strip.clear(f"no interpolation: {message.text}", error=True, empty="")  # none are coming
        else:  # keep the last good frames; say why the new pair was not drawn
            strip.set_caption(message.text, error=True)
        self._note("not decoded", error=True)

    # the posterior inspector
    def _submit_inspect(self, text: str) -> None:
        if self.kind != "vae":
            self._note("a plain autoencoder has no posterior q(z|x) to inspect", error=True)
            return
        try:
            index = int(text)
        except ValueError:
            self._note("the test index is a whole number", error=True)
            return
        self._note("encoding ...")
        self.set_focus(None)  # hand the keys back to the screen: k and t act on the posterior
        self._inspect(index)

    @work(thread=True, exclusive=True, group="inspect", exit_on_error=False)
    def _inspect(self, index: int) -> None:
        try:
            from core.nn.posterior import posterior_of

            model, test_x, test_y = self._model()
            self.post_message(Inspected(posterior_of(model, test_x, test_y, index, self.run_id)))
        except AeklError as exc:
            self.post_message(InspectFailed(exc.worded("test index") if exc.field else exc.message))
        except Exception as exc:  # keep the screen alive; say what broke
            self.post_message(InspectFailed(f"{type(exc).__name__}: {exc}"))

    def on_inspected(self, message: Inspected) -> None:
        post = self.posterior = message.posterior
        drawn = self.query_one(LatentScatter).mark(post.mu, post.sigma)
        view = self.query_one(PosteriorView)
        view.display = True
        self.query_one(DigitStrip).display = False  # the posterior takes the strip's rows; Enter on a pair brings it back
        view.show(post, "" if drawn else "(the 1σ ellipse is drawn on 2-D scatters only)")
        self.query_one("#inspect-index", Input).value = str(post.index)
        keys = "k KL screen" + (", v traversals" if self.latent > 2 else "")
        self._note(f"test #{post.index}: {keys}")

    def on_inspect_failed(self, message: InspectFailed) -> None:
        self._note(message.text, error=True)

    def action_kl_screen(self) -> None:
        if self.posterior is None:
            self._note("type a test index under 'inspect' first (Tab reaches it)", error=True)
            return
        from tui.screens.kl import KLScreen

        post = self.posterior
        self.app.push_screen(KLScreen(mu=numbers(post.mu), sigma=numbers(post.sigma)))

    def action_traversals(self) -> None:
        board = self.query_one(RunBoard)
        if self.posterior is not None:
            index = self.posterior.index
        else:
            index = board.epochs[-1].pair[0] if board.epochs else 0
        kl = board.epochs[-1].kl_per_dim if board.epochs else ()
        self._note(f"decoding traversals around test #{index} ...")
        self._traverse(index, kl)

    @work(thread=True, exclusive=True, group="traverse", exit_on_error=False)
    def _traverse(self, index: int, kl_per_dim) -> None:
        try:
            from core.nn.latent import traversal_images
            from core.nn.posterior import posterior_of

            model, test_x, test_y = self._model()
            if len(kl_per_dim) != self.latent:  # no per-epoch KL kept: order by this image's own KL
                kl_per_dim = posterior_of(model, test_x, test_y, index).kl_terms.tolist()
            order, images = traversal_images(model, test_x[index], kl_per_dim)
            self.post_message(Traversed(order, images.cpu().numpy(), kl_per_dim, index, int(test_y[index])))
        except AeklError as exc:
            self.post_message(InspectFailed(exc.message))
        except Exception as exc:
            self.post_message(InspectFailed(f"{type(exc).__name__}: {exc}"))

    def on_traversed(self, message: Traversed) -> None:
        from tui.screens.traversals import TraversalScreen

        self._note("Enter: decode")
        self.app.push_screen(TraversalScreen(message.order, message.images, message.kl_per_dim,
                                             message.index, message.digit))


def numbers(values) -> str:
    """A vector as the KL screen's fields take it: comma-separated, 6 significant digits."""
    return ",".join(f"{float(v):.6g}" for v in values)
