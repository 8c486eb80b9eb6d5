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
The request is rejected, with the numbers, when too few crossbars are free, the guarantee
is below ``min_throughput``, or a design compiled for a hardware spec meets a target that
cannot run it as designed (:func:`hardware_shortfalls`: smaller crossbars or cores, narrower
bit-widths, slower cores, another number of crossbars per core); a rejection is a result,
not an error.

Examples
--------
>>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
>>> from spikeforge.dataflow.binding import Platform
>>> app = DataflowGraph((Actor("a", 2), Actor("b", 3)), (Channel("ab", "a", "b", 1, 1),),
...                     name="app")
>>> rt = Runtime(Platform(3))
>>> r = rt.admit(app, crossbars=2)
>>> r.admitted, r.crossbars, r.throughput, tuple(rt.free)
(True, (0, 1), 0.3333333333333333, (2,))
>>> rt.admit(DataflowGraph(app.actors, app.channels, name="other"), crossbars=2).reason
'application other needs 2 crossbars, 1 free'
>>> rt.release("app"), tuple(rt.free)
((0, 1), (0, 1, 2))
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from spikeforge.dataflow.binding import (
    Platform,
    Schedule,
    _pipeline,
    _Problem,
    schedule_of,
    with_schedule,
)
from spikeforge.api import public
from spikeforge.errors import AdmissionError, DeadlockError, InvalidGraphError, SpikeforgeError
from spikeforge.ir.dataflow import DataflowGraph
from spikeforge.resources import check_count

if TYPE_CHECKING:
    from spikeforge.artifact import Artifact
    from spikeforge.ir.hardware import Hardware

__all__ = ["AdmissionResult", "Design", "FreeCrossbars", "Runtime", "hardware_shortfalls"]

# What a design compiled for one hardware spec assumes of the target, field by field: at least
# as much (capacities, limits, bit-widths: None is no limit), at most as long (times: a slower
# core voids the guarantee; no global tick counts as 0 ns), or the same (the design's grouping of
# crossbars into cores, which its per-core limits were checked for).
_AT_LEAST = ("core.crossbar_rows", "core.crossbar_columns", "core.neurons_per_core",
             "core.input_buffer_spikes", "synapse_memory_bits_per_core", "core.max_fan_in_per_neuron",
             "core.max_fan_out_per_neuron", "core.max_fan_out_per_core", "precision.weight_bits",
             "precision.threshold_bits", "precision.membrane_bits")
_AT_MOST = ("timing.crossbar_eval_ns", "timing.synop_ns", "timing.neuron_update_ns", "timing.timestep_ns")
_SAME = ("core.crossbars_per_core",)


def _field(hw, path: str):
    value = hw
    for part in path.split("."):
        value = getattr(value, part)
    return value


@public
def hardware_shortfalls(compiled: Hardware, target: Hardware) -> list[str]:
    """Why ``target`` cannot run, as designed, an application compiled for ``compiled`` (both
    :class:`~spikeforge.ir.hardware.Hardware`): one ``"<field> <op> <needed> needed, <target> has
    <value>"`` per property of the cores, bit-widths and timing the design depends on; empty when
    it can. The board (chips, meshes, links) is not compared: admission re-analyses the transfers
    on the target.

    Examples
    --------
    >>> from spikeforge.hardware import load_hardware
    >>> hardware_shortfalls(load_hardware("xbar-mesh"), load_hardware("xbar-mesh").with_chips(4))
    []
    >>> hardware_shortfalls(load_hardware("loihi"), load_hardware("xbar-mesh"))[:2]
    ['core.crossbar_rows ≥ 4096 needed, xbar-mesh has 128', 'core.crossbar_columns ≥ 1024 needed, xbar-mesh has 128']
    """
    out = []
    for fields, op, unset, word in ((_AT_LEAST, "≥", math.inf, "unlimited"), (_AT_MOST, "≤", 0.0, "none"),
                                    (_SAME, "=", None, None)):
        for path in fields:
            need, have = _field(compiled, path), _field(target, path)
            a, b = (unset if v is None else v for v in (have, need))
            if not (a >= b if op == "≥" else a <= b if op == "≤" else a == b):
                shown = [word if v is None else str(v) for v in (need, have)]
                out.append(f"{path} {op} {shown[0]} needed, {target.name} has {shown[1]}")
    return out


@dataclass(frozen=True, eq=False)
class Design:
    """An application with its design-time schedule and analysed guarantee.

    Attributes
    ----------
    application : DataflowGraph
        Every actor bound to a virtual crossbar ``xbar<v>`` (``v`` a crossbar of ``platform``),
        with static orders (:func:`~spikeforge.dataflow.binding.with_schedule`).
    platform : Platform
        The platform the schedule was analysed on (its transfer times).
    period : float
        The analysed time per iteration.
    critical : tuple of str
        Actors of the critical cycle.
    timesteps : int, optional
        Iterations per inference (compiled SNNs), at least 1.
    name : str, optional
        Default ``application.name``.

    Raises
    ------
    AdmissionError
        The application does not carry a complete schedule, the period is not a number
        >= 0, or ``timesteps`` is not an integer >= 1.
    """

    application: DataflowGraph
    platform: Platform
    period: float
    critical: tuple[str, ...] = ()
    timesteps: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.application, DataflowGraph):
            raise AdmissionError(f"Design: application must be a DataflowGraph, got "
                                 f"{type(self.application).__name__}")
        if not isinstance(self.platform, Platform):
            raise AdmissionError(f"Design: platform must be a Platform, got "
                                 f"{type(self.platform).__name__}")
        try:
            binding, _ = schedule_of(self.application)
        except InvalidGraphError as exc:
            raise AdmissionError(f"Design: {exc}") from None
        if not binding:
            raise AdmissionError(f"Design: application {self.application.name!r} carries no "
                                 "schedule (bind it, then with_schedule)")
        if not isinstance(self.period, (int, float, Fraction)) or not self.period >= 0:
            raise AdmissionError(f"Design: period must be a number >= 0, got {self.period!r}")
        if self.timesteps is not None:
            try:
                check_count(self.timesteps, "timesteps")
            except SpikeforgeError as exc:
                raise AdmissionError(f"Design of application {self.application.name}: {exc}") from None
        if self.name is None:
            object.__setattr__(self, "name", self.application.name)

    @classmethod
    @public
    def from_schedule(cls, app: DataflowGraph, schedule: Schedule, platform: Platform, *,
                      timesteps: int | None = None) -> Design:
        """The design of ``app`` bound by ``schedule`` (from :func:`bind` on ``platform``)."""
        return cls(with_schedule(app, schedule), platform, float(schedule.period),
                   tuple(schedule.critical), timesteps)

    def _transfer(self, virtual: list[str], assign: np.ndarray) -> np.ndarray | None:
        """Transfer time of every channel under the design's own crossbars (cached)."""
        key = "_design_transfer"
        if key not in self.__dict__:
            numbers = [_virtual_number(v) for v in virtual]
            if any(x is None or x >= self.platform.crossbars for x in numbers):
                self.__dict__[key] = None
            else:
                problem = _Problem(self.application, self.platform, numbers)
                self.__dict__[key] = problem.transfer(assign)
        return self.__dict__[key]


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
    reused_design_analysis : bool
        True when the run-time binding is an isomorphic relabelling of the design-time one
        (same crossbar grouping and static orders, equal transfer time on every channel), so
        the bound graph equals the analysed one up to names and the design-time period is
        exact; no max-plus analysis ran.
    timesteps : int or None
        Iterations per inference, when known (compiled artifacts).
    """

    admitted: bool
    reason: str
    application: str
    binding: Mapping[str, int]
    orders: Mapping[int, tuple[str, ...]]
    throughput: float
    decision_ms: float
    crossbars: tuple[int, ...] = ()
    reused_design_analysis: bool = False
    timesteps: int | None = None

    @property
    def inferences_per_s(self) -> float | None:
        """Inferences per second for compiled SNNs (time unit ns, ``timesteps`` iterations)."""
        if not self.timesteps or not self.admitted:
            return None
        return self.throughput * 1e9 / self.timesteps


def _virtual_key(name: str):
    m = re.fullmatch(r"(.*?)(\d+)", name)
    return (m.group(1), int(m.group(2))) if m else (name, -1)


def _virtual_number(name: str) -> int | None:
    m = re.fullmatch(r"xbar(\d+)", name)
    return int(m.group(1)) if m else None


class FreeCrossbars(Sequence[int]):
    """The free crossbars of a platform, in increasing order, without listing them: a board of
    10^10 crossbars costs what its occupied ones cost. Compares equal to the tuple of them.

    Examples
    --------
    >>> free = FreeCrossbars(10**10, {0: "app", 2: "app"})
    >>> len(free), free[:3], 2 in free, free[-1]
    (9999999998, (1, 3, 4), False, 9999999999)
    >>> FreeCrossbars(4, {1: "app"}) == (0, 2, 3)
    True
    """

    def __init__(self, crossbars: int, occupied: Iterable[int]) -> None:
        self._crossbars = crossbars
        self._occupied = sorted(occupied)

    def __len__(self) -> int:
        return self._crossbars - len(self._occupied)

    def __iter__(self) -> Iterator[int]:
        start = 0
        for x in self._occupied:
            yield from range(start, x)
            start = x + 1
        yield from range(start, self._crossbars)

    def __contains__(self, x: object) -> bool:
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or not 0 <= x < self._crossbars:
            return False
        i = bisect.bisect_left(self._occupied, x)
        return i == len(self._occupied) or self._occupied[i] != x

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self[i] for i in range(len(self))[index])
        i = operator.index(index)
        i += len(self) if i < 0 else 0
        if not 0 <= i < len(self):
            raise IndexError(f"free crossbar {index} of {len(self)}")
        # the least x with x - (occupied crossbars <= x) == i
        x = i
        while (y := i + bisect.bisect_right(self._occupied, x)) != x:
            x = y
        return x

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (tuple, FreeCrossbars)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(map(str, itertools.islice(self, 8))) + (", ..." if len(self) > 8 else "")
        return f"FreeCrossbars({len(self):,} of {self._crossbars:,}: {shown})"


class Runtime:
    """Occupancy of a platform and the admission of applications onto it.

    Parameters
    ----------
    platform : Platform, Hardware or str
        The crossbars; a hardware spec or preset name means
        :meth:`Platform.from_hardware` (times in ns).

    Raises
    ------
    AdmissionError
        ``platform`` is neither a :class:`~spikeforge.dataflow.binding.Platform` nor a
        hardware spec or preset name.
    InvalidHardwareSpecError
        An unknown preset or a bad spec.
    """

    def __init__(self, platform) -> None:
        from spikeforge.ir.hardware import Hardware

        if isinstance(platform, (str, Hardware)):
            platform = Platform.from_hardware(platform)
        if not isinstance(platform, Platform):
            raise AdmissionError(f"Runtime needs a Platform, got {type(platform).__name__} "
                                 "(or a hardware spec or preset name)")
        self.platform = platform
        self._owner: dict[int, str] = {}
        self._admitted: dict[str, AdmissionResult] = {}

    @property
    def free(self) -> FreeCrossbars:
        """Crossbars not used by any admitted application, in increasing order (a snapshot)."""
        return FreeCrossbars(self.platform.crossbars, self._owner)

    @property
    def admitted(self) -> Mapping[str, AdmissionResult]:
        """Admitted applications by name, with their guarantees."""
        return MappingProxyType(dict(self._admitted))

    def occupancy(self) -> Mapping[int, str]:
        """Crossbar -> name of the application using it."""
        return MappingProxyType(dict(self._owner))

    # The free crossbars are never listed: a board may have up to 2^53 of them. Cores are
    # visited lazily, so a decision costs what the occupied crossbars and the application cost.

    def _core_size(self, core: int) -> int:
        p = self.platform
        return min(p.crossbars_per_core, p.crossbars - core * p.crossbars_per_core)

    def _free_in(self, core: int) -> Iterator[int]:
        """The free crossbars of ``core``, in increasing order."""
        start = core * self.platform.crossbars_per_core
        return (x for x in range(start, start + self._core_size(core)) if x not in self._owner)

    def _used_per_core(self) -> dict[int, int]:
        """Core -> occupied crossbars on it, for the cores with any."""
        per = self.platform.crossbars_per_core
        used: dict[int, int] = {}
        for x in self._owner:
            used[x // per] = used.get(x // per, 0) + 1
        return used

    def _free_cores(self) -> Iterator[int]:
        """The cores with a free crossbar, fullest-free first, then in core order."""
        p = self.platform
        per = p.crossbars_per_core
        cores = -(-p.crossbars // per)
        used = self._used_per_core()
        irregular = set(used) | ({cores - 1} if p.crossbars % per else set())
        # whole free cores have the most free crossbars: in core order, skipping the others
        yield from (c for c in range(cores) if c not in irregular)
        room = {c: self._core_size(c) - used.get(c, 0) for c in irregular}
        yield from sorted((c for c in irregular if room[c]), key=lambda c: (-room[c], c))

    def _pick(self, need: int) -> list[int]:
        """``need`` free crossbars, fullest-free cores first, in crossbar order within a core."""
        out: list[int] = []
        for core in self._free_cores():
            out += itertools.islice(self._free_in(core), need - len(out))
            if len(out) == need:
                break
        return out

    def _pick_design(self, virtual: list[str]) -> list[int] | None:
        """Physical crossbars that keep the design's geometry, if free: the design's own
        crossbars, else the same layout shifted by whole chips, else whole cores for whole
        cores (same-core relation kept). None when none of these fits."""
        numbers = [_virtual_number(v) for v in virtual]
        if any(x is None for x in numbers):
            return None
        p = self.platform

        def free(xs: list[int]) -> bool:
            return all(0 <= x < p.crossbars and x not in self._owner for x in xs)

        if free(numbers):
            return numbers
        hw = p.hardware
        if hw is not None:
            step = hw.crossbars_per_chip
            # beyond this shift both directions leave the board
            last = max(p.crossbars - 1 - max(numbers), min(numbers)) // step
            for d in range(1, last + 1):
                for sign in (1, -1):
                    shifted = [x + sign * d * step for x in numbers]
                    if free(shifted):
                        return shifted
        per = p.crossbars_per_core
        vcores: dict[int, list[int]] = {}
        for i, x in enumerate(numbers):
            vcores.setdefault(x // per, []).append(i)
        cores = -(-p.crossbars // per)
        used = self._used_per_core()
        out = [0] * len(numbers)
        taken: set[int] = set()
        for vc in sorted(vcores):
            members = vcores[vc]
            # the first core with room: a whole free core has room, so few cores are visited
            target = next((c for c in range(cores) if c not in taken and
                           self._core_size(c) - used.get(c, 0) >= len(members)), None)
            if target is None:
                return None
            taken.add(target)
            for i, x in zip(members, self._free_in(target)):
                out[i] = x
        return out

    @public(own_checks="app")
    def admit(self, app: DataflowGraph | Design | Artifact, *, min_throughput: float | Fraction | None = None,
              crossbars: int | None = None, name: str | None = None) -> AdmissionResult:
        """Decide whether ``app`` can run now, bind it, and give its throughput guarantee.

        Parameters
        ----------
        app : DataflowGraph, Design or Artifact
            The application; with a design-time schedule (every actor bound, static orders)
            its orders are reused. A :class:`Design` (or a compiled
            :class:`~spikeforge.artifact.Artifact`) also carries the design-time analysis,
            reused without any max-plus iteration when the free crossbars admit an isomorphic
            relabelling of the design (see ``reused_design_analysis``).
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
            free"``; ``"... guaranteed throughput 0.004 below the required 0.005 ..."``;
            ``"application x was compiled for loihi: core.crossbar_rows ≥ 4096 needed,
            xbar-mesh has 128; ..."`` for a design whose hardware the platform's falls short
            of, see :func:`hardware_shortfalls`, or a platform without a hardware spec).

        Raises
        ------
        AdmissionError
            Not a dataflow graph, no actors, an empty or already admitted name, a
            ``min_throughput`` that is not a positive finite number, a ``crossbars`` below 1,
            a partial design-time binding, or an application that is inconsistent or
            deadlocks on its own.
        """
        t0 = time.perf_counter()
        design = None
        if hasattr(app, "design") and callable(app.design) and not isinstance(app, Design):
            app = app.design()  # a compiled artifact
        if isinstance(app, Design):
            design, app = app, app.application
            name = design.name if name is None else name
        if not isinstance(app, DataflowGraph):
            raise AdmissionError(f"admit: application must be a DataflowGraph, got "
                                 f"{type(app).__name__} (or a Design or Artifact)")
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
        free = self.platform.crossbars - len(self._owner)

        def reject(reason: str, **kw) -> AdmissionResult:
            return AdmissionResult(False, reason, name, MappingProxyType(kw.get("binding", {})),
                                   MappingProxyType(kw.get("orders", {})),
                                   kw.get("throughput", 0.0),
                                   (time.perf_counter() - t0) * 1e3,
                                   timesteps=design.timesteps if design else None)

        if design is not None and design.platform.hardware is not None:
            compiled, target = design.platform.hardware, self.platform.hardware
            if target is None:
                return reject(f"application {name} was compiled for {compiled.name}; the platform "
                              "has no hardware spec to check it against")
            unfit = hardware_shortfalls(compiled, target)
            if unfit:
                return reject(f"application {name} was compiled for {compiled.name}: " + "; ".join(unfit))
        idx = app.actor_index
        reused = False
        try:
            if binding:
                virtual = sorted(set(binding.values()), key=_virtual_key)
                need = len(virtual)
                if need > free:
                    return reject(f"application {name} needs {need} crossbars, {free} free")
                picked = self._pick_design(virtual) if design is not None else None
                picked = picked or self._pick(need)
                slot_of = {p: i for i, p in enumerate(virtual)}
                assign = np.fromiter((slot_of[a.processor] for a in app.actors), np.int64,
                                     len(app.actors))
                problem = _Problem(app, self.platform, picked)
                if set(orders) >= set(virtual):
                    sequence = np.fromiter((idx[a] for p in virtual for a in orders[p]), np.int64)
                else:  # processors without a static order: topological order
                    sequence = None
                if design is not None and sequence is not None:
                    before = design._transfer(virtual, assign)
                    if before is not None:
                        now = problem.transfer(assign)
                        reused = bool(np.allclose(now, before, rtol=1e-12, atol=0.0))
            else:
                need = crossbars if crossbars is not None else len(app.actors)
                if crossbars is None:
                    need = min(need, free)
                if need == 0 or need > free:
                    return reject(f"application {name} needs {max(need, 1)} crossbars, "
                                  f"{free} free")
                picked = self._pick(need)
                problem = _Problem(app, self.platform, picked)
                assign = _pipeline(problem, min(need, len(app.actors)))
                sequence = None
            if reused:
                period = float(design.period)
            else:
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
                                 f"throughput {rate:.6g}"
                                 + (" (design-time analysis reused)" if reused else ""),
                                 name, MappingProxyType(phys_binding),
                                 MappingProxyType(phys_orders), rate, ms, used, reused,
                                 design.timesteps if design else None)
        for x in used:
            self._owner[x] = name
        self._admitted[name] = result
        return result

    @public
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
