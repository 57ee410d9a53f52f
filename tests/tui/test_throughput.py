"""tui.throughput (does watching slow training down?) reads a run's speeds and
follows a run with a headless app; both checked here on a prepared folder, no
trainer (the measurement itself is a benchmark: python -m tui.throughput)."""

from __future__ import annotations

from tui.throughput import rates, watch_here


def test_rates_are_the_rows_speeds_and_the_watcher_draws_every_epoch(prepared_run, runs_dir):
    assert rates(prepared_run.path) == [512.0, 512.0]  # samples_per_s of the two rows written
    assert watch_here(str(runs_dir), prepared_run.id) == 2  # a stopped run: both epochs, then the end
