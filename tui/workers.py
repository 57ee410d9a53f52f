"""One error handler for every worker of the app.

Workers run with exit_on_error=False so that one bad value does not take
the app down; but a worker that dies must not die quietly either. Textual
posts Worker.StateChanged to the node that started the worker (it does not
bubble), so every screen that starts workers mixes this in: a failed worker
becomes a notification with its reason, and the screen's `worker_failed`
hook leaves whatever live state the worker was feeding (the form unlocks).
"""

from __future__ import annotations

from textual.worker import Worker, WorkerState

from core.errors import AeklError


def reason_of(error: BaseException | None) -> str:
    if isinstance(error, AeklError):
        return error.message
    if error is None:
        return "it stopped without saying why"
    return f"{type(error).__name__}: {error}"


class WorkerGuard:
    """Mixin for screens and widgets that start workers."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        worker = event.worker
        text = reason_of(worker.error)
        what = worker.description or worker.name or "a background task"
        self.app.notify(f"{what} failed: {text}", title="Error", severity="error", timeout=15)
        self.worker_failed(worker, text)

    def worker_failed(self, worker: Worker, text: str) -> None:
        """Leave the state the worker was feeding; screens override this."""
