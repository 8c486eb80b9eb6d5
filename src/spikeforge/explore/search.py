r"""Multi-objective co-design search with Optuna's NSGA-II, resumable from its journal.

The space is the sweep's grid — weight bits × timesteps × hardware size × the extra hardware axes
(:data:`~spikeforge.explore.target.KNOBS`) — declared to Optuna as one categorical parameter per
axis. Each trial is a design point, evaluated exactly as a grid point is
(:meth:`~spikeforge.explore.codesign.Run.evaluate`: the simulation cache, then tasks on the
engine), with the objectives

* accuracy (maximise), latency and energy per inference (minimise), and
* the hardware's size (minimise): the PE count of an accelerator, the crossbars used on a
  crossbar chip.

NSGA-II (non-dominated sorting, crowding distance; Deb et al., 2002) asks one generation
(``population`` trials) at a time, so a generation's points run in parallel on the engine's
workers. Infeasible points are told as failed trials.

Nothing is lost and a run can grow: the study lives in an Optuna journal file
(``JournalFileBackend``) in the cache folder, named by a fingerprint of everything that defines
the search, and every finished point sits in the cache folder itself. Rerunning the same
search reads the journal, re-tells trials a killed driver left running (their points come back
from the cache), and runs trials until the study holds ``trials`` finished ones — so a larger
``trials`` extends it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.api import ArrayLike, public
from spikeforge.errors import DesignSpaceError, InvalidDataError, MissingDependencyError
from spikeforge.explore.cache import fingerprint
from spikeforge.explore.codesign import OBJECTIVES, Run, SweepResult
from spikeforge.explore.engine import Engine, InProcess
from spikeforge.explore.target import DesignPoint, Evaluation
from spikeforge.resources import check_memory

__all__ = ["SEARCHES", "hypervolume", "search_objectives", "search_points"]

#: Search algorithms ``codesign --search`` offers (the grid is the default, exhaustive sweep).
SEARCHES = ("nsga2",)


def _hv(points: np.ndarray, ref: np.ndarray) -> float:
    """Volume dominated by ``points`` (minimised, each < ``ref``) below ``ref``: slices along the last axis."""
    if points.shape[0] == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(ref[0] - points[:, 0].min())
    points = points[np.argsort(points[:, -1], kind="stable")]
    volume = 0.0
    for i in range(points.shape[0]):
        top = ref[-1] if i + 1 == points.shape[0] else points[i + 1, -1]
        if top > points[i, -1]:
            volume += _hv(points[: i + 1, :-1], ref[:-1]) * float(top - points[i, -1])
    return volume


@public
def hypervolume(values: ArrayLike, reference: ArrayLike, maximize: ArrayLike) -> float:
    r"""The hypervolume of ``values``: the measure of the objective space they dominate, bounded
    by ``reference`` (the Lebesgue measure of :math:`\bigcup_i [v_i, r]` after every maximised
    column is negated). Rows not strictly better than the reference in every column add nothing.
    Exact (slicing along one objective at a time; :math:`O(n^{k})` for :math:`n` rows, :math:`k`
    objectives: meant for fronts of tens to hundreds of points).

    Raises
    ------
    InvalidDataError
        ``values`` is not 2-D, holds NaN, or its columns disagree with ``reference`` / ``maximize``.

    Examples
    --------
    >>> hypervolume([[2.0, 3.0], [1.0, 2.0]], reference=[0.0, 4.0], maximize=[True, False])
    3.0
    """
    v = np.asarray(values, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    signs = np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
    if v.ndim != 2 or v.shape[1] != signs.size or ref.shape != signs.shape:
        raise InvalidDataError(f"hypervolume: values {v.shape}, reference {ref.shape}, {signs.size} objectives; "
                               f"expected (n, {signs.size}) and ({signs.size},)")
    if np.isnan(v).any() or np.isnan(ref).any():
        raise InvalidDataError("hypervolume: NaN in the values or the reference point")
    g, r = v * signs, ref * signs
    g = g[np.all(g < r, axis=1)]
    return _hv(g, r)


@public
def search_objectives(kind: str) -> tuple[tuple[str, str], ...]:
    """The search's objectives: :data:`OBJECTIVES` plus the hardware size (``pes`` or ``crossbars``)."""
    return (*OBJECTIVES, ("pes", "min") if kind == "accelerator" else ("crossbars", "min"))


def _optuna():
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError("codesign --search nsga2: optuna is not installed; "
                                     "pip install 'spikeforge[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _checked_journal(path: Path) -> Path:
    """``path`` if a search journal may be read and appended there: absent, or a regular file (not
    a link: appending through one would write into someone else's file) that fits in memory."""
    if os.path.lexists(path):
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise DesignSpaceError(f"search journal {path}: not a regular file (a link, folder or device); "
                                   f"remove it to start the search afresh")
        check_memory(4 * info.st_size, f"search journal {path} of {info.st_size:,} bytes")
    return path


@contextlib.contextmanager
def _damaged(journal: Path | None) -> Iterator[None]:
    """Optuna's reading errors on a damaged journal as one line naming the file."""
    try:
        yield
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        if journal is None:
            raise
        raise DesignSpaceError(f"search journal {journal}: damaged ({type(exc).__name__}); delete it to start the "
                               f"search afresh (cached points stay)") from None


@public(own_checks="trials population")
def search_points(run: Run, axes: dict[str, tuple[Any, ...]], *, trials: int, population: int = 16, seed: int = 0,
                  engine: Engine | None = None, advance: Callable[[DesignPoint], None] = lambda _p: None,
                  started: float | None = None) -> SweepResult:
    """Run NSGA-II until the study holds ``trials`` finished trials; see the module docstring.

    ``axes`` maps ``weight_bits``, ``timesteps``, the target's size axis and its knobs to their
    values. The result holds every distinct point the study evaluated (this run and earlier
    ones), its front on :func:`search_objectives`; ``evaluated`` counts the points computed now.
    Without a cache folder the study is kept in memory (nothing to resume).

    Raises
    ------
    MissingDependencyError
        optuna is not installed.
    DesignSpaceError
        ``trials`` below 1 or ``population`` below 2.
    """
    optuna = _optuna()
    started = time.perf_counter() if started is None else started
    if trials < 1 or population < 2:
        raise DesignSpaceError(f"search: trials = {trials}, population = {population}; need trials ≥ 1, "
                               f"population ≥ 2")
    engine = engine or InProcess()
    target = run.target
    objectives = search_objectives(target.kind)
    names = sorted(axes)
    dists = {n: optuna.distributions.CategoricalDistribution(list(axes[n])) for n in names}
    study_key = fingerprint(run.base, run.hw_key, [(n, list(axes[n])) for n in names], population, seed)
    journal = None
    if run.cache.folder is not None:
        Path(run.cache.folder).mkdir(parents=True, exist_ok=True)
        journal = _checked_journal(Path(run.cache.folder) / f"study-{study_key[:16]}.log")
        with _damaged(journal):  # the journal is replayed here
            storage: Any = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    else:
        storage = None
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    with _damaged(journal):
        study = optuna.create_study(study_name="codesign", storage=storage, load_if_exists=True, sampler=sampler,
                                    directions=["maximize" if s == "max" else "minimize" for _, s in objectives])
    size = target.axis if target.axis != "crossbar_sizes" else "crossbar_size"
    space = int(np.prod([len(axes[n]) for n in names]))

    def point_of(params: dict[str, Any]) -> DesignPoint:
        if set(params) != set(names) or any(params[n] not in axes[n] for n in names):
            raise DesignSpaceError(f"search journal {journal}: a trial of parameters {sorted(params)} outside this "
                                   f"space; delete the file to start the search afresh (cached points stay)")
        knobs = {n: params[n] for n in names if n not in ("weight_bits", "timesteps", size)}
        return target.point(params["weight_bits"], params["timesteps"], params.get(size), knobs)

    def tell(batch: Sequence[Any]) -> None:
        points = [point_of(t.params) for t in batch]
        results = run.evaluate(points, engine, advance)
        for t, p in zip(batch, points):
            e = results[p]
            if isinstance(e, Evaluation):
                study.tell(t.number, [float(getattr(e, n)) for n, _ in objectives])
            else:
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)

    TrialState = optuna.trial.TrialState
    with _damaged(journal):
        stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if stale:  # a killed driver's trials: their points come back from the cache
        tell(stale)
    while True:
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
        # every point of the space seen: more trials would only repeat them
        if len(finished) >= trials or len({point_of(t.params) for t in finished}) >= space:
            break
        batch = [study.ask(dists) for _ in range(min(population, trials - len(finished)))]
        tell(batch)
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    points = list(dict.fromkeys(point_of(t.params) for t in finished))
    results = run.evaluate(points, InProcess(), lambda _p: None)  # all cached by now
    return run.result(points, results, started, objectives)
