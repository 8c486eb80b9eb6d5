"""Binding clusters to crossbars and ordering them: design-time scheduling for a throughput guarantee.

An *application* is a :class:`~spikeforge.ir.dataflow.DataflowGraph` whose actors are clusters,
each needing one crossbar for one firing (its execution time is one crossbar evaluation), and
whose channels carry spikes. A :class:`Platform` is a number of crossbars, grouped into cores
(tiles); a channel between clusters on different crossbars costs communication time.

:func:`apply_binding` turns an application, a *binding* (cluster -> crossbar) and *static
orders* (crossbar -> cyclic firing order of its clusters) into the bound graph whose
self-timed throughput, :func:`~spikeforge.dataflow.analysis.throughput`, is the guarantee:

* every crossbar runs one firing at a time, in its static order: the order is a cycle of edges
  :math:`a_1 \\to a_2 \\to \\dots \\to a_k \\to a_1` whose last edge carries one token (a crossbar
  with a single cluster gets a one-token self-loop, so it never overlaps its own firings);
* a channel ``c`` whose endpoints sit on different crossbars ``x``, ``y`` passes through a
  communication actor ``link[c]`` with execution time

  .. math:: \\tau_c = \\begin{cases} \\ell_{\\mathrm{local}} & \\text{same core} \\\\
            \\ell + p_c\\,s_c / B & \\text{different cores} \\end{cases}

  (:math:`p_c` tokens of size :math:`s_c` per firing, bandwidth :math:`B`) and a one-token
  self-loop, so a link serialises its transfers; the channel's initial tokens are already at
  the destination. A zero :math:`\\tau_c` adds no actor.

Which binding and orders maximise the guarantee is decided by named strategies in
:data:`BINDERS` (see :func:`bind`; each a :class:`Binder` object carrying its options):

``in-order``
    the seed's baseline: clusters in layer (topological) order are dealt to the crossbars in
    turn (cluster :math:`i` on crossbar :math:`i \\bmod k`); each crossbar's static order is
    the layer order.
``load-balance``
    longest processing time first: each cluster, heaviest first, onto the least-loaded
    crossbar; static orders by topological rank.
``pipeline``
    the topological order cut into at most :math:`k` contiguous segments of balanced work
    (bottleneck-optimal by binary search), one segment per crossbar, consecutive segments on
    neighbouring crossbars. A static order can only serialise firings of one iteration, so a
    crossbar holding an early and a late cluster of a deep chain waits for the whole chain in
    between; contiguous segments avoid that and turn the crossbars into a pipeline.
``local-search``
    the best of ``load-balance`` and ``pipeline``, improved by moving and swapping clusters
    that lie on the critical cycle; a move is kept when the analysed throughput improves
    (ties: when the crossbar loads become more even). It sweeps the crossbar count
    :math:`u = 1 \\dots k` (every count up to :math:`\\min(64, 64000/n)`, then doubling, then :math:`k`; only
    :math:`k` above :data:`LARGE` actors) and starts
    each step from the previous step's result, so more crossbars never lower its guarantee.

Static orders always follow one admissible firing sequence of an iteration (the topological
order of the zero-token channels for homogeneous graphs), so the bound graph never deadlocks.
Homogeneous applications (all rates 1, what mapped SNNs are) are analysed on edge arrays
directly, without building the bound graph; others go through :func:`apply_binding` and
:func:`~spikeforge.dataflow.analysis.throughput`.

Examples
--------
>>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
>>> app = DataflowGraph((Actor("a", 2), Actor("b", 3), Actor("c", 2)),
...                     (Channel("ab", "a", "b", 1, 1), Channel("bc", "b", "c", 1, 1)), name="app")
>>> s = bind(app, Platform(2), "pipeline")
>>> dict(s.binding), dict(s.orders), s.period
({'a': 0, 'b': 0, 'c': 1}, {0: ('a', 'b'), 1: ('c',)}, 5.0)
>>> bound = apply_binding(app, s.binding, s.orders, Platform(2, link_latency=1))
>>> [a.name for a in bound.actors]
['a', 'b', 'c', 'link[bc]']
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from spikeforge.api import public
from spikeforge.dataflow.analysis import throughput
from spikeforge.dataflow.consistency import firing_sequence, repetition_vector
from spikeforge.dataflow.maxplus import max_cycle_ratio
from spikeforge.errors import (
    CapacityError,
    DeadlockError,
    InvalidDataError,
    InvalidGraphError,
    InvalidHardwareSpecError,
)
from spikeforge.hardware.geometry import hop_counts
from spikeforge.ir.dataflow import Actor, DataflowGraph
from spikeforge.ir.hardware import Hardware
from spikeforge.resources import check_count
from spikeforge.strategies import Registry

__all__ = [
    "BINDERS",
    "DEFAULT_BINDER",
    "Binder",
    "InOrderBinder",
    "LoadBalanceBinder",
    "LocalSearchBinder",
    "PipelineBinder",
    "Platform",
    "Schedule",
    "apply_binding",
    "bind",
    "crossbar_name",
    "evaluate",
    "link_name",
    "schedule_of",
    "topological_order",
    "with_schedule",
]

Number = int | float | Fraction


def crossbar_name(x: int) -> str:
    """Processor name of crossbar ``x`` in bound graphs: ``"xbar<x>"``."""
    return f"xbar{x}"


def link_name(channel: str) -> str:
    """Name of the communication actor of ``channel``: ``"link[<channel>]"``."""
    return f"link[{channel}]"


def _check_number(value, what: str, *, allow_inf: bool = False, positive: bool = False):
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction, np.integer,
                                                         np.floating)):
        raise InvalidHardwareSpecError(f"platform: {what} must be a number, got {value!r}")
    if math.isnan(value) or (math.isinf(value) and not allow_inf) or value < 0 or \
            (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise InvalidHardwareSpecError(f"platform: {what} must be {bound}"
                                       f"{'' if allow_inf else ' and finite'}, got {value}")


@dataclass(frozen=True)
class Platform:
    """Crossbars grouped into cores, with the cost of moving tokens between them.

    Parameters
    ----------
    crossbars : int
        Number of crossbars (processors), :math:`\\ge 1`, numbered ``0 .. crossbars-1``.
    crossbars_per_core : int
        Crossbars ``x`` with equal ``x // crossbars_per_core`` share a core (tile).
    link_latency : number
        Latency of a transfer between crossbars of different cores.
    bandwidth : number
        Token-size units per time unit on links between cores (``inf``: no size term).
    local_latency : number
        Latency of a transfer between crossbars of one core.
    hardware : Hardware, optional
        A hardware spec (see :meth:`from_hardware`). When given, crossbar ``x`` sits on global
        core ``x // crossbars_per_core`` of the hardware and a transfer between cores costs the
        route's hops (dimension-order routing, :func:`spikeforge.hardware.hop_counts`), in ns:

        .. math:: \\tau = h_{noc}\\,\\ell_{hop} + h_{chip}\\,\\ell_{chip} + s / B

        with :math:`B` the NoC bandwidth, or the inter-chip one when the route leaves the chip
        (spikes per ns); ``link_latency`` and ``bandwidth`` are then ignored.

    Raises
    ------
    InvalidHardwareSpecError
        A count below 1, a negative, NaN or infinite latency, a bandwidth that is not > 0, or
        more crossbars or another core size than ``hardware`` has.

    Examples
    --------
    >>> p = Platform(8, crossbars_per_core=4, link_latency=2, bandwidth=4)
    >>> p.core(5), p.transfer_time(0, 5, 8), p.transfer_time(0, 1, 8)
    (1, Fraction(4, 1), 0)
    """

    crossbars: int
    crossbars_per_core: int = 1
    link_latency: Number = 0
    bandwidth: Number = math.inf
    local_latency: Number = 0
    hardware: Hardware | None = None

    def __post_init__(self) -> None:
        for what in ("crossbars", "crossbars_per_core"):
            check_count(getattr(self, what), f"platform: {what}", error=InvalidHardwareSpecError)
        _check_number(self.link_latency, "link_latency")
        _check_number(self.local_latency, "local_latency")
        _check_number(self.bandwidth, "bandwidth", allow_inf=True, positive=True)
        hw = self.hardware
        if hw is not None:
            if not isinstance(hw, Hardware):
                raise InvalidHardwareSpecError(f"platform: hardware must be a Hardware spec, got "
                                               f"{type(hw).__name__}")
            if self.crossbars > hw.total_crossbars:
                raise InvalidHardwareSpecError(f"platform: {self.crossbars} crossbars, hardware "
                                               f"{hw.name} has {hw.total_crossbars}")
            if self.crossbars_per_core != hw.core.crossbars_per_core:
                raise InvalidHardwareSpecError(
                    f"platform: {self.crossbars_per_core} crossbars per core, hardware {hw.name} "
                    f"has {hw.core.crossbars_per_core}")

    @classmethod
    @public
    def from_hardware(cls, hw: Hardware | str | os.PathLike, *, chips: int | None = None,
                      crossbars: int | None = None) -> Platform:
        """The crossbars of a hardware spec, with hop-based transfer times in ns.

        Parameters
        ----------
        hw : Hardware or str
            A spec, preset name or TOML path.
        chips : int, optional
            Chips on the board (default: as in the spec).
        crossbars : int, optional
            Use only the first crossbars (default: all of them).

        Raises
        ------
        InvalidHardwareSpecError
            Unknown preset, a bad spec, or more crossbars asked for than the chips hold.

        Examples
        --------
        >>> p = Platform.from_hardware("xbar-mesh")
        >>> p.crossbars, p.transfer_time(0, 1, 18), p.transfer_time(0, 5, 18)
        (16, 20.0, 30.0)
        """
        from spikeforge.hardware import load_hardware

        hw = load_hardware(hw)
        if chips is not None:
            hw = hw.with_chips(chips)
        count = hw.total_crossbars if crossbars is None else crossbars
        return cls(count, hw.core.crossbars_per_core, hw.noc.hop_latency_ns,
                   hw.noc.link_bandwidth_spikes_per_s * 1e-9, 0, hw)

    def core(self, x: int) -> int:
        """Core of crossbar ``x``."""
        return int(x) // self.crossbars_per_core

    def transfer_times(self, core_a: np.ndarray, core_b: np.ndarray,
                       size: np.ndarray) -> np.ndarray:
        """Vectorised transfer time between (distinct) cores ``core_a[i]``, ``core_b[i]``."""
        hw = self.hardware
        if hw is None:
            return float(self.link_latency) + (0.0 if math.isinf(self.bandwidth)
                                               else size / float(self.bandwidth))
        noc, inter = hop_counts(hw, core_a, core_b)
        bw = np.where(inter > 0, hw.interchip.link_bandwidth_spikes_per_s,
                      hw.noc.link_bandwidth_spikes_per_s) * 1e-9
        return noc * hw.noc.hop_latency_ns + inter * hw.interchip.link_latency_ns + size / bw

    def transfer_time_each(self, x: np.ndarray, y: np.ndarray, size: np.ndarray) -> list[Number]:
        """:meth:`transfer_time` of each triple ``x[i], y[i], size[i]``, equal element by element;
        vectorised when the platform has hardware (bound graphs of millions of channels)."""
        if self.hardware is None:
            return [self.transfer_time(a, b, n) for a, b, n in zip(x.tolist(), y.tolist(), size.tolist())]
        out: list[Number] = self.transfer_time_array(x, y, size).tolist()
        near = x // self.crossbars_per_core == y // self.crossbars_per_core
        for i in np.flatnonzero(near).tolist():
            out[i] = 0 if x[i] == y[i] else self.local_latency  # the numbers transfer_time gives
        return out

    def transfer_time_array(self, x: np.ndarray, y: np.ndarray, size: np.ndarray) -> np.ndarray:
        """:meth:`transfer_time` of each triple as a float array (no Python object per element:
        bound graphs of millions of channels)."""
        if self.hardware is None:
            return np.array(self.transfer_time_each(x, y, size), dtype=float)
        times = np.empty(len(x))
        step = 1 << 22  # a route's temporaries are a dozen arrays: bounded, not one per channel
        for lo in range(0, len(x), step):
            xs, ys, sizes = x[lo:lo + step], y[lo:lo + step], size[lo:lo + step]
            core_x, core_y = xs // self.crossbars_per_core, ys // self.crossbars_per_core
            far = core_x != core_y
            chunk = np.where(xs == ys, 0.0, float(self.local_latency))
            chunk[far] = self.transfer_times(core_x[far], core_y[far], sizes[far].astype(float))
            times[lo:lo + step] = chunk
        return times

    def transfer_time(self, x: int, y: int, size: int) -> Number:
        """Time to move ``size`` token-size units from crossbar ``x`` to ``y`` (0 when equal)."""
        if x == y:
            return 0
        if self.core(x) == self.core(y):
            return self.local_latency
        if self.hardware is not None:
            return float(self.transfer_times(np.array([self.core(x)]), np.array([self.core(y)]),
                                             np.array([float(size)]))[0])
        if math.isinf(self.bandwidth):
            return self.link_latency
        exact = not any(isinstance(v, float) for v in (self.link_latency, self.bandwidth))
        if exact:
            return Fraction(self.link_latency) + Fraction(size) / Fraction(self.bandwidth)
        return float(self.link_latency) + size / float(self.bandwidth)


@dataclass(frozen=True)
class Schedule:
    """A binding of clusters to crossbars, their static orders, and the analysed guarantee.

    Attributes
    ----------
    binding : Mapping[str, int]
        Actor -> crossbar.
    orders : Mapping[int, tuple of str]
        Crossbar -> cyclic static order (actors repeat in multi-rate graphs).
    throughput : float
        Guaranteed graph iterations per time unit (``inf`` if nothing limits it).
    period : float
        Time per iteration, :math:`1/\\text{throughput}` (0 when unbounded).
    strategy : str
        Strategy that produced the schedule.
    critical : tuple of str
        Actors on the critical cycle (communication actors named by :func:`link_name`).
    """

    binding: Mapping[str, int]
    orders: Mapping[int, tuple[str, ...]]
    throughput: float
    period: float
    strategy: str = ""
    critical: tuple[str, ...] = field(default=())

    @property
    def crossbars(self) -> tuple[int, ...]:
        """Crossbars used, in increasing order."""
        return tuple(sorted(self.orders))


# --------------------------------------------------------------------------------------------
# application structure


@public
def topological_order(app: DataflowGraph) -> np.ndarray:
    """Actor indices in an admissible firing order of one iteration.

    Homogeneous graphs: a topological order of the zero-token channels, ties broken by actor
    index (so an application listed layer by layer comes out layer by layer). Other graphs:
    an admissible firing sequence of one iteration (actors repeat :math:`q_a` times).

    Raises
    ------
    DeadlockError
        The application deadlocks (a cycle of zero-token channels).
    InvalidGraphError
        The application is inconsistent.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> g = DataflowGraph((Actor("b", 1), Actor("a", 1)), (Channel("ab", "a", "b", 1, 1),))
    >>> topological_order(g).tolist()
    [1, 0]
    """
    cached = app.__dict__.get("_spikeforge_topological_order")
    if cached is not None:
        return cached
    if not app.is_homogeneous:
        order = np.array(firing_sequence(app, repetition_vector(app)), dtype=np.int64)
    else:
        arr = app.arrays
        n = len(app.actors)
        zero = np.flatnonzero((arr.tokens == 0) & (arr.src != arr.dst))
        s, d = arr.src[zero], arr.dst[zero]
        indeg = np.bincount(d, minlength=n).tolist()
        by_src = np.argsort(s, kind="stable")
        starts = np.searchsorted(s[by_src], np.arange(n + 1)).tolist()
        succ = d[by_src].tolist()
        heap = [a for a in range(n) if indeg[a] == 0]
        heapq.heapify(heap)
        out = []
        while heap:
            a = heapq.heappop(heap)
            out.append(a)
            for b in succ[starts[a]:starts[a + 1]]:
                indeg[b] -= 1
                if indeg[b] == 0:
                    heapq.heappush(heap, b)
        if len(out) < n or np.any((arr.tokens == 0) & (arr.src == arr.dst)):
            from spikeforge.dataflow.consistency import check_deadlock
            check_deadlock(app)
        order = np.array(out, dtype=np.int64)
    order.flags.writeable = False
    app.__dict__["_spikeforge_topological_order"] = order
    return order


class _Problem:
    """An application on a list of allowed crossbars: fast evaluation of bindings."""

    def __init__(self, app: DataflowGraph, platform: Platform, crossbars: Sequence[int]):
        if not app.actors:
            raise InvalidGraphError(f"application {app.name!r} has no actors")
        self.app, self.platform = app, platform
        self.crossbars = np.asarray(crossbars, dtype=np.int64)
        arr = app.arrays
        self.n = len(app.actors)
        self.homogeneous = app.is_homogeneous
        self.exec = arr.execution_time
        self.src, self.dst, self.tokens = arr.src, arr.dst, arr.tokens
        self.size = arr.production * arr.token_size
        self.core = self.crossbars // platform.crossbars_per_core
        self.evaluations = 0

    @property
    def sequence(self) -> np.ndarray:
        return topological_order(self.app)

    # transfer time of every channel given the crossbar of each actor (indices into crossbars)
    def transfer(self, assign: np.ndarray) -> np.ndarray:
        p = self.platform
        xs, xd = assign[self.src], assign[self.dst]
        tau = np.zeros(len(self.src))
        differ = xs != xd
        same_core = self.core[xs] == self.core[xd]
        tau[differ & same_core] = float(p.local_latency)
        far = differ & ~same_core
        if far.any():
            tau[far] = p.transfer_times(self.core[xs[far]], self.core[xd[far]], self.size[far])
        return tau

    def orders(self, assign: np.ndarray, sequence: np.ndarray | None = None):
        """Grouped sequence: actors sorted by crossbar slot, stable in sequence order."""
        seq = self.sequence if sequence is None else sequence
        slot = assign[seq]
        perm = np.argsort(slot, kind="stable")
        grouped = seq[perm]
        gslot = slot[perm]
        return grouped, gslot

    def evaluate(self, assign: np.ndarray, sequence: np.ndarray | None = None):
        """(period, critical actor names) of a binding (slots into ``crossbars``)."""
        self.evaluations += 1
        if not self.homogeneous:
            return self._evaluate_graph(assign, sequence)
        n = self.n
        grouped, gslot = self.orders(assign, sequence)
        m = len(grouped)
        first = np.ones(m, dtype=bool)
        first[1:] = gslot[1:] != gslot[:-1]
        last = np.ones(m, dtype=bool)
        last[:-1] = first[1:]
        start_of = np.maximum.accumulate(np.where(first, np.arange(m), 0))
        nxt = np.where(last, grouped[start_of], np.roll(grouped, -1))
        tau = self.transfer(assign)
        # A link actor L on channel s -> d (edges s -> L -> d and a one-token self-loop on L)
        # is contracted into one edge s -> d of weight e_s + tau: every simple cycle through L
        # other than its self-loop uses s -> L -> d once, so the maximum cycle ratio is
        # max(ratio of the contracted graph, max tau).
        src = np.concatenate([self.src, grouped])
        dst = np.concatenate([self.dst, nxt])
        weight = np.concatenate([self.exec[self.src] + tau, self.exec[grouped]])
        tok = np.concatenate([self.tokens, last.astype(np.int64)])
        mc = len(self.src)
        load = np.bincount(gslot, weights=self.exec[grouped])
        hint = mc + np.flatnonzero(gslot == int(np.argmax(load)))  # busiest crossbar's order
        best = max_cycle_ratio(n, src, dst, weight, tok, hint=hint)
        names = []
        for v, e in zip(best.nodes, best.edges):
            names.append(self.app.actors[v].name)
            if e < mc and tau[e] > 0:
                names.append(link_name(self.app.channels[e].name))
        top = float(tau.max(initial=0.0))
        if top > (best.value if best.value != -math.inf else 0.0):
            e = int(np.argmax(tau))
            return top, (link_name(self.app.channels[e].name),)
        period = best.value if best.value > 0 else 0.0
        return float(period), tuple(names)

    def _evaluate_graph(self, assign, sequence):
        schedule_binding, orders = self.named(assign, sequence)
        bound = apply_binding(self.app, schedule_binding, orders, self.platform)
        r = throughput(bound)
        return float(r.period), tuple(r.critical_cycle.actors)

    def named(self, assign, sequence=None):
        names = [a.name for a in self.app.actors]
        binding = {names[a]: int(self.crossbars[assign[a]]) for a in range(self.n)}
        grouped, gslot = self.orders(assign, sequence)
        orders: dict[int, list[str]] = {}
        for a, s in zip(grouped.tolist(), gslot.tolist()):
            orders.setdefault(int(self.crossbars[s]), []).append(names[a])
        return binding, {x: tuple(o) for x, o in orders.items()}

    def schedule(self, assign, strategy, sequence=None, result=None) -> Schedule:
        period, critical = self.evaluate(assign, sequence) if result is None else result
        binding, orders = self.named(assign, sequence)
        rate = 1.0 / period if period > 0 else math.inf
        return Schedule(MappingProxyType(binding), MappingProxyType(orders), rate, period,
                        strategy, critical)

    def loads(self, assign: np.ndarray, k: int) -> np.ndarray:
        counts = np.bincount(self.sequence, minlength=self.n)  # firings per iteration
        return np.bincount(assign, weights=self.exec * counts, minlength=k)


# --------------------------------------------------------------------------------------------
# strategies: each maps (problem, k) to an assignment of actors to slots 0..k-1


def _in_order(problem: _Problem, k: int) -> np.ndarray:
    assign = np.empty(problem.n, dtype=np.int64)
    first = _first_occurrence(problem)
    assign[first] = np.arange(problem.n) % k
    return assign


def _first_occurrence(problem: _Problem) -> np.ndarray:
    seq = problem.sequence
    _, idx = np.unique(seq, return_index=True)
    return seq[np.sort(idx)]


def _load_balance(problem: _Problem, k: int) -> np.ndarray:
    counts = np.bincount(problem.sequence, minlength=problem.n)
    work = problem.exec * counts
    assign = np.empty(problem.n, dtype=np.int64)
    heap = [(0.0, x) for x in range(k)]
    for a in np.argsort(-work, kind="stable").tolist():
        load, x = heapq.heappop(heap)
        assign[a] = x
        heapq.heappush(heap, (load + float(work[a]), x))
    return assign


def _pipeline(problem: _Problem, k: int) -> np.ndarray:
    order = _first_occurrence(problem)
    counts = np.bincount(problem.sequence, minlength=problem.n)
    work = (problem.exec * counts)[order]
    prefix = np.concatenate([[0.0], np.cumsum(work)])
    total = prefix[-1]

    def cuts(bound: float):
        out, start = [], 0
        while start < len(order):
            end = int(np.searchsorted(prefix, prefix[start] + bound * (1 + 1e-12), "right")) - 1
            end = max(end, start + 1)
            out.append((start, end))
            start = end
        return out

    lo, hi = float(work.max(initial=0.0)), float(total)
    if len(cuts(lo)) > k:
        for _ in range(60):
            mid = (lo + hi) / 2
            if len(cuts(mid)) <= k:
                hi = mid
            else:
                lo = mid
            if hi - lo <= 1e-9 * max(hi, 1.0):
                break
        bound = hi
    else:
        bound = lo
    assign = np.empty(problem.n, dtype=np.int64)
    for slot, (s, e) in enumerate(cuts(bound)):
        assign[order[s:e]] = slot
    return assign


def _better(a, b, tol) -> bool:
    """Lexicographic (period, load spread) comparison with tolerance on the period."""
    if a[0] < b[0] - tol:
        return True
    return abs(a[0] - b[0]) <= tol and a[1] < b[1] * (1 - 1e-12) - 1e-12


def _local_search(problem: _Problem, k: int, assign: np.ndarray, budget: int,
                  max_candidates: int = 12) -> np.ndarray:
    """Critical-cycle-guided moves and swaps, first improvement, at most ``budget`` evaluations."""
    app = problem.app
    idx = app.actor_index
    neighbours: list[list[int]] = [[] for _ in range(problem.n)]
    for s, d in zip(problem.src.tolist(), problem.dst.tolist()):
        if s != d:
            neighbours[s].append(d)
            neighbours[d].append(s)
    counts = np.bincount(problem.sequence, minlength=problem.n)
    work = problem.exec * counts

    def score(a):
        period, critical = problem.evaluate(a)
        loads = np.bincount(a, weights=work, minlength=k)
        return (period, float(np.dot(loads, loads))), critical

    current, critical = score(assign)
    tol = 1e-9 * max(current[0], 1.0)
    used = 1
    while used < budget:
        loads = np.bincount(assign, weights=work, minlength=k)
        on_cycle = []
        for name in critical:
            if name.startswith("link[") and name[5:-1] in app.channel_index:
                c = app.channels[app.channel_index[name[5:-1]]]
                on_cycle += [idx[c.src], idx[c.dst]]
            elif name in idx:
                on_cycle.append(idx[name])
        on_cycle = list(dict.fromkeys(on_cycle))
        empty = np.flatnonzero(loads == 0)
        lightest = int(np.argmin(loads))
        candidates = []
        for v in on_cycle:
            here = int(assign[v])
            targets = {int(assign[u]) for u in neighbours[v]} | {lightest}
            if len(empty):
                targets.add(int(empty[0]))
            targets.discard(here)
            for t in targets:
                candidates.append((loads[t] + work[v], "move", v, t))
            # swap with a lighter actor of the lightest neighbouring crossbar
            for t in targets:
                members = np.flatnonzero((assign == t) & (work < work[v]))
                if len(members):
                    w = int(members[np.argmax(work[members])])
                    candidates.append((loads[t] + work[v] - work[w], "swap", v, w))
        candidates.sort(key=lambda c: c[0])
        improved = False
        for _, kind, v, t in candidates[:max_candidates]:
            if used >= budget:
                break
            trial = assign.copy()
            if kind == "move":
                trial[v] = t
            else:
                trial[v], trial[t] = assign[t], assign[v]
            used += 1
            try:
                value, crit = score(trial)
            except DeadlockError:
                continue
            if _better(value, current, tol):
                assign, current, critical, improved = trial, value, crit, True
                break
        if not improved:
            break
    return assign


def _best_of(problem: _Problem, assigns, tol_rel=1e-9):
    best = None
    for a in assigns:
        period, crit = problem.evaluate(a)
        if best is None or period < best[1] - tol_rel * max(best[1], 1.0):
            best = (a, period, crit)
    return best


@dataclass(frozen=True)
class Binder:
    """A binding strategy with its options: :meth:`bind` binds a problem's actors to ``k``
    crossbars and orders them."""

    name: ClassVar[str]

    def bind(self, problem: _Problem, k: int) -> Schedule:
        raise NotImplementedError


@dataclass(frozen=True)
class InOrderBinder(Binder):
    """Clusters in layer order dealt to the crossbars in turn (the seed's baseline)."""

    name: ClassVar[str] = "in-order"

    def bind(self, problem: _Problem, k: int) -> Schedule:
        return problem.schedule(_in_order(problem, k), self.name)


@dataclass(frozen=True)
class LoadBalanceBinder(Binder):
    """Longest processing time first: each cluster, heaviest first, onto the least-loaded crossbar."""

    name: ClassVar[str] = "load-balance"

    def bind(self, problem: _Problem, k: int) -> Schedule:
        return problem.schedule(_load_balance(problem, k), self.name)


@dataclass(frozen=True)
class PipelineBinder(Binder):
    """The topological order cut into contiguous segments of balanced work, one per crossbar."""

    name: ClassVar[str] = "pipeline"

    def bind(self, problem: _Problem, k: int) -> Schedule:
        return problem.schedule(_pipeline(problem, k), self.name)


#: Applications with more actors than this skip the local search's sweep (only ``u = k``).
LARGE = 5_000


def _sweep(k: int, full: int = 64) -> list[int]:
    """Crossbar counts the local search visits: all up to ``full``, then doubling up to k
    (``full == 0``: k only)."""
    if full == 0:
        return [k]
    if k <= full:
        return list(range(1, k + 1))
    steps = list(range(1, full + 1))
    u = full
    while u * 2 < k:
        u *= 2
        steps.append(u)
    return steps + [k]


@dataclass(frozen=True)
class LocalSearchBinder(Binder):
    """The best of load-balance and pipeline, improved by moves and swaps on the critical cycle.

    ``budget_per_step``: analyses per crossbar count of the sweep.
    """

    name: ClassVar[str] = "local-search"
    budget_per_step: int = 40

    def __post_init__(self) -> None:
        b = self.budget_per_step
        if isinstance(b, bool) or not isinstance(b, int) or b < 0:
            raise InvalidDataError(f"local-search binder: budget_per_step {b!r}; must be an integer >= 0")

    def bind(self, problem: _Problem, k: int) -> Schedule:
        previous = None
        full = 0 if problem.n > LARGE else min(64, max(1, 64_000 // problem.n))
        for u in _sweep(k, full):
            starts = [_load_balance(problem, u), _pipeline(problem, u)]
            if previous is not None:
                starts.append(previous)
            start, _, _ = _best_of(problem, starts)
            previous = _local_search(problem, u, start, self.budget_per_step)
        return problem.schedule(previous, self.name)


#: Binding strategies by name (see the module docstring).
BINDERS: Registry[Binder] = Registry("binder", Binder,
                                     (InOrderBinder, LoadBalanceBinder, PipelineBinder, LocalSearchBinder))
#: The binder ``bind`` and ``compile`` use unless told otherwise.
DEFAULT_BINDER = "local-search"


def _crossbar_list(platform: Platform, crossbars, clusters: int) -> list[int]:
    """The crossbars allowed; of the first ones (a count or all), only as many as there are
    ``clusters``: no strategy uses more, and a board may have up to 2^53 crossbars."""
    if crossbars is None:
        return list(range(min(platform.crossbars, clusters)))
    if isinstance(crossbars, (int, np.integer)) and not isinstance(crossbars, bool):
        if not 1 <= crossbars <= platform.crossbars:
            raise CapacityError(f"bind: {crossbars} crossbars requested, platform has "
                                f"{platform.crossbars}")
        return list(range(min(int(crossbars), clusters)))
    out = [int(x) for x in crossbars]
    bad = [x for x in out if not 0 <= x < platform.crossbars]
    if bad:
        raise CapacityError(f"bind: crossbar {bad[0]} does not exist, platform has "
                            f"{platform.crossbars} (0..{platform.crossbars - 1})")
    if len(set(out)) != len(out) or not out:
        raise CapacityError(f"bind: crossbars must be distinct and non-empty, got {out[:8]}")
    return out


@public
def bind(app: DataflowGraph, platform: Platform, strategy: str | Binder = DEFAULT_BINDER, *,
         crossbars: int | Sequence[int] | np.ndarray | None = None, budget_per_step: int | None = None) -> Schedule:
    """Bind the clusters of ``app`` to crossbars and order them, by a strategy.

    Parameters
    ----------
    app : DataflowGraph
        The application (clusters and channels); processors already set are ignored.
    platform : Platform
    strategy : str or Binder
        A name of :data:`BINDERS` (``"in-order"``, ``"load-balance"``, ``"pipeline"`` or
        ``"local-search"``, options at their defaults) or a binder object with its options,
        e.g. ``LocalSearchBinder(budget_per_step=10)``.
    crossbars : int or sequence of int, optional
        The crossbars allowed: a count (the first ones) or a list of crossbar numbers (e.g.
        those still free). Default: all. With fewer crossbars than clusters they are
        time-multiplexed.
    budget_per_step : int, optional
        ``local-search``: analyses per crossbar count of the sweep, replacing the binder's
        (other binders have no budget).

    Returns
    -------
    Schedule

    Raises
    ------
    UnknownStrategyError
        Unknown strategy.
    InvalidGraphError
        An empty or inconsistent application.
    CapacityError
        A crossbar outside the platform, or more crossbars asked for than it has.
    DeadlockError
        The application itself deadlocks.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> app = DataflowGraph(tuple(Actor(f"a{i}", t) for i, t in enumerate([4, 1, 1, 2])), ())
    >>> bind(app, Platform(2), "load-balance").period, bind(app, Platform(2), "in-order").period
    (4.0, 5.0)
    """
    binder = BINDERS.resolve(strategy)
    if budget_per_step is not None and isinstance(binder, LocalSearchBinder):
        binder = dataclasses.replace(binder, budget_per_step=budget_per_step)
    xs = _crossbar_list(platform, crossbars, len(app.actors))
    problem = _Problem(app, platform, xs)
    k = min(len(xs), problem.n)
    return binder.bind(problem, k)


@public
def evaluate(app: DataflowGraph, binding: Mapping[str, int], orders: Mapping[int, Sequence[str]],
             platform: Platform, *, strategy: str = "") -> Schedule:
    """Analysed guarantee of a given binding and static orders (floats; fast for HSDF).

    Raises
    ------
    InvalidGraphError
        An actor unbound or bound twice, or orders that do not match the binding.
    CapacityError
        A crossbar outside the platform.
    DeadlockError
        The orders deadlock.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> app = DataflowGraph((Actor("a", 2), Actor("b", 3)), (Channel("ab", "a", "b", 1, 1),))
    >>> evaluate(app, {"a": 0, "b": 0}, {0: ("a", "b")}, Platform(1)).period
    5.0
    """
    bound = apply_binding(app, binding, orders, platform)  # validates
    if not app.is_homogeneous:
        r = throughput(bound)
        period = float(r.period)
        rate = 1.0 / period if period > 0 else math.inf
        return Schedule(MappingProxyType(dict(binding)),
                        MappingProxyType({int(x): tuple(o) for x, o in orders.items()}),
                        rate, period, strategy, tuple(r.critical_cycle.actors))
    xs = sorted({int(x) for x in binding.values()})
    slot = {x: i for i, x in enumerate(xs)}
    problem = _Problem(app, platform, xs)
    idx = app.actor_index
    assign = np.array([slot[int(binding[a.name])] for a in app.actors], dtype=np.int64)
    sequence = np.array([idx[a] for x in xs for a in orders[x]], dtype=np.int64)
    result = problem.evaluate(assign, sequence)
    return problem.schedule(assign, strategy, sequence, result)


@public
def apply_binding(app: DataflowGraph, binding: Mapping[str, int],
                  orders: Mapping[int, Sequence[str]] | None = None,
                  platform: Platform | None = None) -> DataflowGraph:
    """The bound graph: static-order cycles on crossbars and communication actors on links.

    Parameters
    ----------
    app : DataflowGraph
        The application; actors' existing processors are replaced.
    binding : Mapping[str, int]
        Every actor -> its crossbar.
    orders : Mapping[int, sequence of str], optional
        Crossbar -> cyclic static order. Default: each crossbar's actors in
        :func:`topological_order`.
    platform : Platform, optional
        Communication costs and the crossbar count (default: enough crossbars, free links).

    Returns
    -------
    DataflowGraph
        Actors bound to processors ``crossbar_name(x)`` with those static orders, plus a
        communication actor ``link[c]`` (with a one-token self-loop) on every channel ``c``
        whose transfer time is positive.

    Raises
    ------
    InvalidGraphError
        An actor missing from the binding or an unknown one in it, a name clash with a
        communication actor, or static orders that omit or misplace actors.
    CapacityError
        A crossbar outside the platform.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
    >>> from spikeforge.dataflow.analysis import throughput
    >>> app = DataflowGraph((Actor("a", 2), Actor("b", 3)), (Channel("ab", "a", "b", 1, 1),))
    >>> g = apply_binding(app, {"a": 0, "b": 1}, platform=Platform(2, link_latency=4))
    >>> dict(g.static_orders), throughput(g, exact=True).period
    ({'xbar0': ('a',), 'xbar1': ('b',), 'link[ab]': ('link[ab]',)}, Fraction(4, 1))
    """
    names = [a.name for a in app.actors]
    missing = [a for a in names if a not in binding]
    if missing:
        raise InvalidGraphError(f"apply_binding: {len(missing)} actor(s) of {app.name!r} not "
                                f"bound: {', '.join(missing[:5])}")
    unknown = [a for a in binding if a not in app.actor_index]
    if unknown:
        raise InvalidGraphError(f"apply_binding: binding names unknown actor(s) "
                                f"{', '.join(map(str, unknown[:5]))}")
    count = platform.crossbars if platform is not None else None
    for a, x in binding.items():
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0 or \
                (count is not None and x >= count):
            raise CapacityError(f"apply_binding: actor {a} bound to crossbar {x!r}, platform has "
                                f"{count} (0..{(count or 1) - 1})")
    if orders is None:
        by_x: dict[int, list[str]] = {}
        for i in topological_order(app).tolist():
            by_x.setdefault(int(binding[names[i]]), []).append(names[i])
        orders = by_x
    platform = platform or Platform(max(int(x) for x in binding.values()) + 1)
    # vectorised over the channels: a mapped U-Net has millions of them
    arr, m, n = app.arrays, len(app.channels), len(names)
    xbar = np.array([binding[a] for a in names], dtype=np.int64)
    moving = np.flatnonzero(arr.src != arr.dst)
    tau: list[Number] = [0] * m
    times = platform.transfer_time_each(xbar[arr.src[moving]], xbar[arr.dst[moving]],
                                        (arr.production * arr.token_size)[moving])
    for k, t in zip(moving.tolist(), times):
        tau[k] = t
    crossing = [k for k in moving.tolist() if tau[k]]
    links = [link_name(app.channels[k].name) for k in crossing]
    clash = next((i for i, link in enumerate(links) if link in app.actor_index), None)
    if clash is not None:
        raise InvalidGraphError(f"apply_binding: actor name {links[clash]!r} clashes with the "
                                f"communication actor of channel {app.channels[crossing[clash]].name}")
    static = {crossbar_name(int(x)): tuple(o) for x, o in orders.items()}
    static.update((link, (link,)) for link in links)
    # a crossing channel c becomes c (src -> link, rate p:p, no tokens) and link.out (link -> dst)
    cross = np.zeros(m, dtype=bool)
    cross[crossing] = True
    link_of = np.zeros(m, dtype=np.int64)
    link_of[crossing] = n + np.arange(len(crossing))
    rows = np.repeat(np.arange(m), 1 + cross)
    out = np.zeros(len(rows), dtype=bool)
    out[1:] = rows[1:] == rows[:-1]
    into = cross[rows] & ~out
    channel_names = []
    for c, through in zip(app.channels, cross.tolist()):
        channel_names.append(c.name)
        if through:
            channel_names.append(f"{link_name(c.name)}.out")
    return DataflowGraph.from_arrays(
        names + links, [a.execution_time for a in app.actors] + [tau[k] for k in crossing],
        channel_names, np.where(out, link_of[rows], arr.src[rows]),
        np.where(into, link_of[rows], arr.dst[rows]), arr.production[rows],
        np.where(into, arr.production[rows], arr.consumption[rows]),
        np.where(into, 0, arr.tokens[rows]), arr.token_size[rows],
        processors=[crossbar_name(int(x)) for x in xbar.tolist()] + links, name=app.name,
        static_orders=static)


@public
def with_schedule(app: DataflowGraph, schedule: Schedule) -> DataflowGraph:
    """``app`` carrying a design-time schedule: processors ``xbar<x>`` and their static orders.

    No communication actors are added (they depend on where the crossbars end up); this is the
    form :meth:`spikeforge.runtime.admission.Runtime.admit` reuses.

    Raises
    ------
    InvalidGraphError
        The schedule does not bind every actor of ``app``.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, DataflowGraph
    >>> app = DataflowGraph((Actor("a", 1), Actor("b", 1)), ())
    >>> g = with_schedule(app, bind(app, Platform(1)))
    >>> dict(g.static_orders)
    {'xbar0': ('a', 'b')}
    """
    missing = [a.name for a in app.actors if a.name not in schedule.binding]
    if missing:
        raise InvalidGraphError(f"with_schedule: {len(missing)} actor(s) not bound: "
                                f"{', '.join(missing[:5])}")
    actors = tuple(Actor(a.name, a.execution_time, crossbar_name(schedule.binding[a.name]))
                   for a in app.actors)
    orders = {crossbar_name(x): tuple(o) for x, o in schedule.orders.items()}
    return DataflowGraph(actors, app.channels, app.name, orders)


@public
def schedule_of(graph: DataflowGraph) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """The (binding, static orders) a graph carries, by processor name; ({}, {}) if unbound.

    Raises
    ------
    InvalidGraphError
        Some actors are bound and others are not.
    """
    bound = {a.name: a.processor for a in graph.actors if a.processor is not None}
    if bound and len(bound) != len(graph.actors):
        loose = [a.name for a in graph.actors if a.processor is None]
        raise InvalidGraphError(f"graph {graph.name!r}: {len(loose)} actor(s) unbound while "
                                f"{len(bound)} are bound: {', '.join(loose[:5])}")
    return bound, {p: tuple(o) for p, o in graph.static_orders.items()}
