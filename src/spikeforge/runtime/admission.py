"""Run-time admission: bind a new application onto the crossbars still free, in milliseconds.

A :class:`Runtime` holds the occupancy of a :class:`~spikeforge.dataflow.binding.Platform`:
which crossbars run which admitted application, and the throughput each was guaranteed.
Applications never share a crossbar, and each transfer has its own communication actor, so
admitting one application leaves the guarantees of the others intact (composability).

:meth:`Runtime.admit` decides quickly, the self-timed way (Song et al., LCTES 2020):

* an application that carries a design-time schedule (every actor bound to a processor, with
  static orders, e.g. from :func:`~spikeforge.dataflow.binding.with_schedule`) keeps its
  orders; only its virtual crossbars are mapped onto free ones, whole cores first, in the
  order of the design so neighbouring pipeline stages stay on one core;
* an application without one is bound by the fast ``pipeline`` strategy onto
  ``crossbars`` free crossbars (default: one per cluster, or all free ones if fewer);

then the binding is analysed (max-plus, Howard's algorithm) for its guaranteed throughput.
The request is rejected, with the numbers, when too few crossbars are free or the guarantee
is below ``min_throughput``; a rejection is a result, not an error.

Examples
--------
>>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
>>> from spikeforge.dataflow.binding import Platform
>>> app = DataflowGraph((Actor("a", 2), Actor("b", 3)), (Channel("ab", "a", "b", 1, 1),),
...                     name="app")
>>> rt = Runtime(Platform(3))
>>> r = rt.admit(app, crossbars=2)
>>> r.admitted, r.crossbars, r.throughput, rt.free
(True, (0, 1), 0.3333333333333333, (2,))
>>> rt.admit(DataflowGraph(app.actors, app.channels, name="other"), crossbars=2).reason
'application other needs 2 crossbars, 1 free'
>>> rt.release("app"), rt.free
((0, 1), (0, 1, 2))
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

import numpy as np

from spikeforge.dataflow.binding import Platform, _pipeline, _Problem, schedule_of
from spikeforge.errors import AdmissionError, DeadlockError, InvalidGraphError
from spikeforge.ir.dataflow import DataflowGraph

__all__ = ["AdmissionResult", "Runtime"]


@dataclass(frozen=True)
class AdmissionResult:
    """Outcome of :meth:`Runtime.admit`.

    Attributes
    ----------
    admitted : bool
    reason : str
        Why it was rejected, or a one-line summary when admitted.
    application : str
    binding : Mapping[str, int]
        Actor -> physical crossbar (empty when rejected before binding).
    orders : Mapping[int, tuple of str]
        Crossbar -> static order.
    throughput : float
        Guaranteed iterations per time unit (0.0 when not analysed).
    decision_ms : float
        Wall time of the decision (validation, binding and analysis).
    crossbars : tuple of int
        Crossbars given to the application (empty when rejected).
    """

    admitted: bool
    reason: str
    application: str
    binding: Mapping[str, int]
    orders: Mapping[int, tuple[str, ...]]
    throughput: float
    decision_ms: float
    crossbars: tuple[int, ...] = ()


def _virtual_key(name: str):
    m = re.fullmatch(r"(.*?)(\d+)", name)
    return (m.group(1), int(m.group(2))) if m else (name, -1)


class Runtime:
    """Occupancy of a platform and the admission of applications onto it.

    Parameters
    ----------
    platform : Platform

    Raises
    ------
    AdmissionError
        ``platform`` is not a :class:`~spikeforge.dataflow.binding.Platform`.
    """

    def __init__(self, platform: Platform) -> None:
        if not isinstance(platform, Platform):
            raise AdmissionError(f"Runtime needs a Platform, got {type(platform).__name__}")
        self.platform = platform
        self._owner: dict[int, str] = {}
        self._admitted: dict[str, AdmissionResult] = {}

    @property
    def free(self) -> tuple[int, ...]:
        """Crossbars not used by any admitted application."""
        return tuple(x for x in range(self.platform.crossbars) if x not in self._owner)

    @property
    def admitted(self) -> Mapping[str, AdmissionResult]:
        """Admitted applications by name, with their guarantees."""
        return MappingProxyType(dict(self._admitted))

    def occupancy(self) -> Mapping[int, str]:
        """Crossbar -> name of the application using it."""
        return MappingProxyType(dict(self._owner))

    def _pick(self, need: int, free: tuple[int, ...]) -> list[int]:
        """``need`` free crossbars, fullest-free cores first, in crossbar order within a core."""
        per = self.platform.crossbars_per_core
        cores: dict[int, list[int]] = {}
        for x in free:
            cores.setdefault(x // per, []).append(x)
        ranked = sorted(cores.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        out: list[int] = []
        for _, xs in ranked:
            out += xs[:need - len(out)]
            if len(out) == need:
                break
        return out

    def admit(self, app: DataflowGraph, *, min_throughput: float | Fraction | None = None,
              crossbars: int | None = None, name: str | None = None) -> AdmissionResult:
        """Decide whether ``app`` can run now, bind it, and give its throughput guarantee.

        Parameters
        ----------
        app : DataflowGraph
            The application; with a design-time schedule (every actor bound, static orders)
            its orders are reused.
        min_throughput : number, optional
            Required iterations per time unit.
        crossbars : int, optional
            Crossbars to use for an application without a design-time schedule (default: one
            per cluster, or every free crossbar if fewer are free).
        name : str, optional
            Name to admit it under (default ``app.name``).

        Returns
        -------
        AdmissionResult
            Admitted, or rejected with the reason (``"application x needs 12 crossbars, 9
            free"``; ``"... guaranteed throughput 0.004 below the required 0.005 ..."``).

        Raises
        ------
        AdmissionError
            Not a dataflow graph, no actors, an empty or already admitted name, a
            ``min_throughput`` that is not a positive finite number, a ``crossbars`` below 1,
            a partial design-time binding, or an application that is inconsistent or
            deadlocks on its own.
        """
        t0 = time.perf_counter()
        if not isinstance(app, DataflowGraph):
            raise AdmissionError(f"admit: application must be a DataflowGraph, got "
                                 f"{type(app).__name__}")
        name = app.name if name is None else name
        if not isinstance(name, str) or not name:
            raise AdmissionError("admit: the application needs a non-empty name "
                                 "(DataflowGraph.name or name=)")
        if name in self._admitted:
            raise AdmissionError(f"admit: application {name} is already admitted on crossbars "
                                 f"{list(self._admitted[name].crossbars)[:8]}")
        if not app.actors:
            raise AdmissionError(f"admit: application {name} has no actors")
        if min_throughput is not None:
            ok = isinstance(min_throughput, (int, float, Fraction)) and \
                not isinstance(min_throughput, bool) and math.isfinite(min_throughput) and \
                min_throughput > 0
            if not ok:
                raise AdmissionError(f"admit: min_throughput must be a positive finite number, "
                                     f"got {min_throughput!r}")
        if crossbars is not None and (isinstance(crossbars, bool) or
                                      not isinstance(crossbars, (int, np.integer)) or crossbars < 1):
            raise AdmissionError(f"admit: crossbars must be an integer >= 1, got {crossbars!r}")
        try:
            binding, orders = schedule_of(app)
        except InvalidGraphError as exc:
            raise AdmissionError(f"admit: application {name}: {exc}") from None
        free = self.free

        def reject(reason: str, **kw) -> AdmissionResult:
            return AdmissionResult(False, reason, name, MappingProxyType(kw.get("binding", {})),
                                   MappingProxyType(kw.get("orders", {})),
                                   kw.get("throughput", 0.0),
                                   (time.perf_counter() - t0) * 1e3)

        idx = app.actor_index
        try:
            if binding:
                virtual = sorted(set(binding.values()), key=_virtual_key)
                need = len(virtual)
                if need > len(free):
                    return reject(f"application {name} needs {need} crossbars, {len(free)} free")
                picked = self._pick(need, free)
                slot_of = {p: i for i, p in enumerate(virtual)}
                assign = np.fromiter((slot_of[a.processor] for a in app.actors), np.int64,
                                     len(app.actors))
                problem = _Problem(app, self.platform, picked)
                if set(orders) >= set(virtual):
                    sequence = np.fromiter((idx[a] for p in virtual for a in orders[p]), np.int64)
                else:  # processors without a static order: topological order
                    sequence = None
            else:
                need = crossbars if crossbars is not None else len(app.actors)
                if crossbars is None:
                    need = min(need, len(free))
                if need == 0 or need > len(free):
                    return reject(f"application {name} needs {max(need, 1)} crossbars, "
                                  f"{len(free)} free")
                picked = self._pick(need, free)
                problem = _Problem(app, self.platform, picked)
                assign = _pipeline(problem, min(need, len(app.actors)))
                sequence = None
            period, _ = problem.evaluate(assign, sequence)
        except (DeadlockError, InvalidGraphError) as exc:
            raise AdmissionError(f"admit: application {name}: {exc}") from None
        rate = 1.0 / period if period > 0 else math.inf
        phys_binding, phys_orders = problem.named(assign, sequence)
        used = tuple(sorted(phys_orders))
        if min_throughput is not None and rate < float(min_throughput) * (1 - 1e-12):
            return reject(f"application {name}: guaranteed throughput {rate:.6g} iterations per "
                          f"time unit is below the required {float(min_throughput):.6g} "
                          f"(on {len(used)} crossbars)", binding=phys_binding,
                          orders=phys_orders, throughput=rate)
        ms = (time.perf_counter() - t0) * 1e3
        result = AdmissionResult(True, f"admitted on {len(used)} crossbars, guaranteed "
                                 f"throughput {rate:.6g}", name, MappingProxyType(phys_binding),
                                 MappingProxyType(phys_orders), rate, ms, used)
        for x in used:
            self._owner[x] = name
        self._admitted[name] = result
        return result

    def release(self, name: str) -> tuple[int, ...]:
        """Remove an admitted application; returns the crossbars freed.

        Raises
        ------
        AdmissionError
            No application of that name is admitted.
        """
        if name not in self._admitted:
            known = ", ".join(sorted(self._admitted)[:5]) or "none"
            raise AdmissionError(f"release: no admitted application named {name!r} "
                                 f"(admitted: {known})")
        result = self._admitted.pop(name)
        for x in result.crossbars:
            del self._owner[x]
        return result.crossbars
