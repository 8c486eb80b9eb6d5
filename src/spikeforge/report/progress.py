"""Progress bars for the command line's long runs (simulations over a data set)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress

__all__ = ["sample_progress"]


@contextmanager
def sample_progress(console: Console, label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A transient bar over ``total`` samples; yields the ``on_batch(samples done)`` callback
    that the simulators call after each batch.

    Examples
    --------
    >>> from rich.console import Console
    >>> with sample_progress(Console(quiet=True), "simulate", 10) as on_batch:
    ...     on_batch(10)
    """
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done: progress.update(task, completed=done)
