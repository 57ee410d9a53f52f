"""What the `aekl` script runs first: the standard library only, so that it is
loaded in a blink and its guards stand before anything heavy is imported.

- Ctrl-C while the CLI's modules still import (typer, rich, numpy: a few
  hundred ms) ends with one line and 130, not a KeyboardInterrupt traceback.
- A machine short of memory (`ulimit -v`, a full container) fails imports
  with MemoryError, or with ImportError/OSError when a shared library cannot
  be mapped: one line saying so and exit 1, at start-up or inside a command.

`aekl-tui` starts through tui.entry with the same guards.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Callable

INTERRUPTED = 130  # 128 + SIGINT, as core.errors.ExitCode.INTERRUPTED
FAILURE = 1

# Words the loader and libc use when a library could not be mapped for want
# of memory (glibc: "failed to map segment from shared object", "cannot
# allocate memory"; OpenBLAS: "Memory allocation failed").
_MEMORY_WORDS = ("memory", "failed to map", "cannot allocate", "mmap")


def line(prog: str, message: str) -> None:
    """One line on stderr, written directly: it must work when little else does."""
    try:
        os.write(2, f"{prog}: error: {message}\n".encode("utf-8", "replace"))
    except OSError:
        pass


def short_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, (ImportError, OSError)) and any(w in text for w in _MEMORY_WORDS)


def environment_failure(prog: str, exc: BaseException) -> int:
    """The one line for a failure of the machine rather than of aekl; the exit code."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if short_of_memory(exc):
        line(prog, f"not enough memory to run ({first}); free some memory or raise the limit (ulimit -v)")
    else:
        line(prog, f"a module could not be loaded ({first}); the installation looks broken: "
                   "reinstall aekl and its dependencies")
    return FAILURE


def start(prog: str, load: Callable[[], Callable[[], object]]) -> None:
    """Import the face with `load` (which returns its main) and run it, with
    the guards above. SIGINT ends the process directly during the import: a
    KeyboardInterrupt raised inside some library's import can leave it
    half-initialised, and there is nothing of ours to clean up yet."""

    def interrupted(signum, frame) -> None:
        line(prog, "interrupted")
        os._exit(INTERRUPTED)

    try:
        previous = signal.signal(signal.SIGINT, interrupted)
    except ValueError:  # not the main thread (embedded): no handler to swap
        previous = None
    try:
        run = load()
    except (MemoryError, ImportError, OSError) as exc:
        sys.exit(environment_failure(prog, exc))
    finally:
        if previous is not None and signal.getsignal(signal.SIGINT) is interrupted:
            signal.signal(signal.SIGINT, previous)
    try:
        run()
    except KeyboardInterrupt:
        line(prog, "interrupted")
        sys.exit(INTERRUPTED)
    except (MemoryError, ImportError) as exc:
        sys.exit(environment_failure(prog, exc))
    except OSError as exc:
        if not short_of_memory(exc):
            raise
        sys.exit(environment_failure(prog, exc))


def _load_cli() -> Callable[[], object]:
    from core.cli import run

    return run


def main() -> None:
    """The `aekl` script."""
    start("aekl", _load_cli)


if __name__ == "__main__":
    main()
