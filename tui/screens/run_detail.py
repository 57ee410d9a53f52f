"""One saved run: loss history, latent scatter, and interpolations decoded on demand.

History and scatter come from the run's files (metrics.jsonl, latents.npz).
The interpolation is decoded from checkpoint.pt: a worker thread loads the
model and the MNIST test set once, then each pair of test indices the user
types is one small decode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from core.errors import AeklError
from tui.widgets.digit_strip import DigitStrip
from tui.widgets.latent_scatter import LatentScatter
from tui.widgets.loss_chart import LossChart


class Decoded(Message):
    def __init__(self, frames: np.ndarray, pair: tuple[int, int], digits: tuple[int, int]) -> None:
        super().__init__()
        self.frames, self.pair, self.digits = frames, pair, digits


class DecodeFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RunDetailScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, run_id: str, runs_dir: Path, data_dir: Path | None) -> None:
        super().__init__()
        self.run_id = run_id
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self._loaded = None  # (model, config, test_x, test_y), filled by the worker
        self.decoded: tuple[int, int] | None = None  # last pair shown

    def compose(self) -> ComposeResult:
        yield Static(self.run_id, id="detail-title", classes="screen-title")
        with Vertical(id="board"):
            with Horizontal(id="charts"):
                yield LossChart(title="loss per epoch", live=False, id="loss", classes="panel")
                yield LatentScatter(id="scatter", classes="panel")
            yield DigitStrip(id="strip", classes="panel")
        with Horizontal(id="pair-row"):
            yield Label("test index from", classes="form-label")
            yield Input(compact=True, id="pair-from", classes="form-input", type="integer")
            yield Label("to", classes="form-label")
            yield Input(compact=True, id="pair-to", classes="form-input", type="integer")
            yield Static("Enter: decode", id="pair-note")
        yield Footer()

    def on_mount(self) -> None:
        from core.runs import open_run

        try:
            run = open_run(self.run_id, self.runs_dir)
            config, status, metrics = run.config(), run.status(), run.metrics()
        except AeklError as exc:
            self.query_one("#detail-title", Static).update(f"{self.run_id}: {exc.message}")
            return
        self.query_one("#detail-title", Static).update(
            f"{self.run_id}  {status.get('status')}  {config.kind} z{config.latent}  "
            f"{len(metrics)}/{config.epochs} epochs")
        self.query_one(LossChart).set_history(metrics)
        latents = run.file("latents.npz")
        if latents.is_file():
            with np.load(latents) as z:
                self.query_one(LatentScatter).set_codes(z["codes"], z["labels"])
        self.query_one(DigitStrip).clear("interpolation: loading the checkpoint ...")
        self._decode(config.interp_from, config.interp_to)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        texts = [self.query_one(f"#pair-{k}", Input).value.strip() for k in ("from", "to")]
        try:
            i, j = (int(t) if t else None for t in texts)
        except ValueError:
            self._note("test indices are whole numbers", error=True)
            return
        self._note("decoding ...")
        self._decode(i, j)

    def _note(self, text: str, error: bool = False) -> None:
        note = self.query_one("#pair-note", Static)
        note.update(text)
        note.set_class(error, "-error")

    @work(thread=True, exclusive=True, group="decode", exit_on_error=False)
    def _decode(self, i: int | None, j: int | None) -> None:
        try:
            model, test_x, test_y = self._model()
            from core.latent import check_index, decode, encode, interpolation_pair, path_points

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
        if self._loaded is None:
            from core.data import load_mnist
            from core.models import load_trained
            from core.runs import open_run

            run = open_run(self.run_id, self.runs_dir)
            model, config = load_trained(run, "cpu")
            data = load_mnist(self.data_dir, "cpu", subset=1)  # only the test split is used
            self._steps = config.interp_steps
            self._loaded = (model, data.test_x, data.test_y)
        return self._loaded

    def on_decoded(self, message: Decoded) -> None:
        (a, b), (da, db) = message.pair, message.digits
        self.decoded = message.pair
        self.query_one(DigitStrip).set_frames(
            message.frames, f"decoded line from test #{a} (a {da}) to #{b} (a {db})", now=True)
        self.query_one("#pair-from", Input).value = str(a)
        self.query_one("#pair-to", Input).value = str(b)
        self._note("Enter: decode")

    def on_decode_failed(self, message: DecodeFailed) -> None:
        strip = self.query_one(DigitStrip)
        if strip.frames is None:
            strip.clear(f"no interpolation: {message.text}", error=True)
        else:  # keep the last good frames; say why the new pair was not drawn
            strip.set_caption(message.text, error=True)
        self._note("not decoded", error=True)
