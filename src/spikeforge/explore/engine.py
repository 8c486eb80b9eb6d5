"""Where co-design tasks run: in this process, or on a Dask cluster (``distributed``).

A sweep or a search builds a small task graph — quantise per weight bit-width, simulate per
(bits, T), evaluate per design point — and hands it to an :class:`Engine`:

* :class:`InProcess` runs each task at once, in order (no extra package; the library default);
* :class:`DaskEngine` submits them to a ``distributed`` cluster: a ``LocalCluster`` of
  ``workers`` single-threaded worker processes on this machine, or the scheduler at
  ``scheduler`` (``tcp://host:8786``), whose workers need spikeforge installed. Tasks carry
  explicit keys, so two design points needing the same simulation share one task; the network
  and the data are scattered to the cluster once.

Every finished design point is written to the cache folder by the worker that computed it
(:class:`~spikeforge.explore.cache.SimulationCache`, one atomically renamed file per point), so a
killed worker, driver or connection loses no finished point: rerunning reads them back. Dask
re-runs the tasks of a lost worker on another one.

``distributed`` is an optional dependency (the ``search`` extra, ``pip install
'spikeforge[search]'``); :func:`make_engine` raises :class:`MissingDependencyError` when a
cluster is asked for without it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self

from spikeforge.api import public
from spikeforge.errors import MissingDependencyError, ResourceError

__all__ = ["DaskEngine", "Engine", "InProcess", "dask_available", "make_engine"]

_EXTRA = "pip install 'spikeforge[search]'"


@public
def dask_available() -> bool:
    """Whether ``distributed`` can be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True, eq=False)
class Done:
    """The result of a task run in this process (the in-process stand-in for a future)."""

    value: Any


class Engine:
    """Runs tasks; ``submit`` returns a handle, ``completed`` yields ``(handle, result)`` as tasks end."""

    workers: int = 1
    label: str = "in-process"

    def scatter(self, value: Any) -> Any:
        """A handle for ``value`` that tasks may take as an argument."""
        raise NotImplementedError

    def submit(self, fn: Callable[..., Any], *args: Any, key: str, priority: int = 0) -> Any:
        """Run ``fn(*args)`` (handles among ``args`` are replaced by their results); among tasks
        ready at once, a higher ``priority`` runs first."""
        raise NotImplementedError

    def completed(self, handles: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """``(handle, result)`` for every handle, in the order they finish."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the cluster (nothing to do in process)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcess(Engine):
    """Every task runs in this process when it is submitted."""

    def scatter(self, value: Any) -> Done:
        return Done(value)

    def submit(self, fn: Callable[..., Any], *args: Any, key: str, priority: int = 0) -> Done:
        return Done(fn(*(a.value if isinstance(a, Done) else a for a in args)))

    def completed(self, handles: Iterable[Done]) -> Iterator[tuple[Done, Any]]:
        for h in handles:
            yield h, h.value


class DaskEngine(Engine):
    """Tasks on a ``distributed`` cluster: a local one of ``workers`` processes, or ``scheduler``.

    Raises
    ------
    MissingDependencyError
        ``distributed`` is not installed.
    ResourceError
        The scheduler at ``scheduler`` cannot be reached.
    """

    def __init__(self, workers: int = 2, scheduler: str | None = None, *, timeout_s: float = 20.0) -> None:
        if not dask_available():
            raise MissingDependencyError(f"co-design on a Dask cluster: distributed is not installed; {_EXTRA}")
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler is None:
            import dask

            # one thread per worker process; torch and BLAS on one thread inside each. A worker is
            # sent its next ready task only when it is free (saturation 1.0, not Dask's 1.1, which
            # hands each worker one task ahead): the longest-first order of the simulations then
            # holds across workers (list scheduling), instead of being fixed when tasks are sent.
            # Workers log nothing below CRITICAL: a failed task's error reaches the driver, which
            # reports it in one line (their "Compute Failed" logs would be a second copy on stderr).
            with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.CRITICAL,
                                            env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
            self.client = Client(self.cluster)
            self.label = f"{workers} local worker{'s' * (workers != 1)}"
        else:
            try:
                self.client = Client(scheduler, timeout=f"{timeout_s}s")
            except (OSError, TimeoutError) as exc:
                raise ResourceError(f"Dask scheduler {scheduler}: cannot connect ({exc})") from None
            self.label = f"cluster {scheduler}"
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})) or workers)

    def scatter(self, value: Any) -> Any:
        # on every worker: the network and data feed every task, and data held by one worker would
        # pull every task to it (the scheduler prefers data locality)
        return self.client.scatter(value, broadcast=True, hash=False)

    def submit(self, fn: Callable[..., Any], *args: Any, key: str, priority: int = 0) -> Any:
        return self.client.submit(fn, *args, key=key, pure=False, retries=2, priority=priority)

    def completed(self, handles: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed

        handles = list(handles)
        if not handles:
            return
        yield from as_completed(handles, with_results=True)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


@public
def make_engine(workers: int = 0, scheduler: str | None = None) -> Engine:
    """``InProcess()`` for ``workers = 0`` and no scheduler, else a :class:`DaskEngine`.

    Raises
    ------
    MissingDependencyError
        A cluster is asked for and ``distributed`` is not installed.
    ResourceError
        ``scheduler`` cannot be reached.
    """
    if scheduler is None and workers == 0:
        return InProcess()
    return DaskEngine(max(1, workers), scheduler)


def default_workers() -> int:
    """The CLI's default: one local worker process per CPU this process may use when
    ``distributed`` is installed, else 0 (in process)."""
    if not dask_available():
        return 0
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
