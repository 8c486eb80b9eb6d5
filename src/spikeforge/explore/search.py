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

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spikeforge.api import public
from spikeforge.errors import DesignSpaceError, MissingDependencyError
from spikeforge.explore.cache import fingerprint
from spikeforge.explore.codesign import OBJECTIVES, Run, SweepResult
from spikeforge.explore.engine import Engine, InProcess
from spikeforge.explore.target import DesignPoint, Evaluation

__all__ = ["SEARCHES", "search_objectives", "search_points"]

#: Search algorithms ``codesign --search`` offers (the grid is the default, exhaustive sweep).
SEARCHES = ("nsga2",)


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
    if run.cache.folder is not None:
        Path(run.cache.folder).mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(Path(run.cache.folder) / f"study-{study_key[:16]}.log"))
        storage: Any = optuna.storages.JournalStorage(backend)
    else:
        storage = None
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    study = optuna.create_study(study_name="codesign", storage=storage, load_if_exists=True, sampler=sampler,
                                directions=["maximize" if s == "max" else "minimize" for _, s in objectives])
    size = target.axis if target.axis != "crossbar_sizes" else "crossbar_size"

    def point_of(params: dict[str, Any]) -> DesignPoint:
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
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if stale:  # a killed driver's trials: their points come back from the cache
        tell(stale)
    while True:
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)))
        if done >= trials:
            break
        batch = [study.ask(dists) for _ in range(min(population, trials - done))]
        tell(batch)
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    points = list(dict.fromkeys(point_of(t.params) for t in finished))
    results = run.evaluate(points, InProcess(), lambda _p: None)  # all cached by now
    return run.result(points, results, started, objectives)
