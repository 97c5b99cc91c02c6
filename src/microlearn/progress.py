"""Progress bars (tqdm) for the steps that can take a while: converting big ensembles, compiling, emulating.

Bars appear on stderr only when it is a terminal (or ``MICROLEARN_PROGRESS=1``; ``=0`` turns them off),
and only for steps still running after ``MICROLEARN_PROGRESS_DELAY`` seconds (default 2), so quick calls
and tests stay quiet. :func:`note` prints one line (an estimate before a long build) under the same rule;
the command line turns notes on with :func:`configure`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_forced: dict[str, bool] = {}


def configure(*, bars: bool | None = None, notes: bool | None = None) -> None:
    """Force progress bars / notes on or off for this process (None: back to the default rule)."""
    for key, val in (("bars", bars), ("notes", notes)):
        if val is None:
            _forced.pop(key, None)
        else:
            _forced[key] = val


def _env_on() -> bool | None:
    v = os.environ.get("MICROLEARN_PROGRESS", "").strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    return None


def enabled(kind: str = "bars") -> bool:
    if kind in _forced:
        return _forced[kind]
    env = _env_on()
    if env is not None:
        return env
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def delay() -> float:
    try:
        return max(0.0, float(os.environ.get("MICROLEARN_PROGRESS_DELAY", "2")))
    except ValueError:
        return 2.0


def bar(items: Iterable[T], desc: str, *, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """``items`` with a tqdm bar on stderr (see the module docs for when it shows)."""
    if not enabled():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, total=total, unit=unit, delay=delay(), leave=False, file=sys.stderr)


@contextlib.contextmanager
def busy(desc: str) -> Iterator[None]:
    """A bar counting seconds while a step without steps of its own (a compile) runs."""
    if not enabled():
        yield
        return
    from tqdm import tqdm

    stop = threading.Event()
    bar_: Any = tqdm(
        desc=desc,
        total=None,
        unit="s",
        delay=delay(),
        leave=False,
        file=sys.stderr,
        bar_format="{desc}: {elapsed}",
    )

    def tick() -> None:
        while not stop.wait(0.5):
            if time.monotonic() - t0 >= delay():
                bar_.refresh()

    t0 = time.monotonic()
    th = threading.Thread(target=tick, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()
        bar_.close()


def note(text: str) -> None:
    """One line on stderr, under the notes rule (command line: always)."""
    if enabled("notes"):
        print(text, file=sys.stderr, flush=True)
