"""Throughput by state-space exploration of self-timed execution, measured against spikeforge.

This is a **benchmark reference, not part of the product**: the project's issue asks to "explore
the state space with cycle detection as SDF3 does — measure both and keep what is faster". The
product computes throughput by symbolic expansion of one iteration into a max-plus graph and
Howard's policy iteration (:func:`spikeforge.dataflow.analysis.throughput`); this module is the
other method, written independently in Python (numpy for large graphs), and the benchmark that
runs both side by side.

Method: Ghamarian, Geilen, Stuijk, Basten, Moonen, Bekooij, Theelen, Mousavi, "Throughput
analysis of synchronous data flow graphs", ACSD 2006 — the semantics of SDF3's
``sdf3analysis-sdf --algo throughput`` (unbounded channels, auto-concurrency):

* self-timed execution: at every instant each actor starts as many firings as its input tokens
  allow (an actor may fire concurrently with itself unless a self-edge limits it); a firing
  consumes its input tokens when it starts and produces its output tokens when it ends,
  ``execution_time`` later; the clock advances to the next end of a firing;
* a state is the token count of every channel plus the remaining times of all active firings.
  As in SDF3, a state is stored once per iteration: when the reference actor (the actor with
  the least repetition count) completes another multiple of its repetition count. States are
  kept in a dict keyed on a compact bytes form (token counts, then (remaining time, actor,
  count) triples in canonical order, each packed in the narrowest unsigned type that holds it);
* unlike SDF3's list of states searched one by one, the stored states are a hash table, and a
  state holds no clock (SDF3 also stores the time since the previous stored state): token counts
  and active firings determine the rest of the execution, so their first repeat already closes
  a period. A state is taken once the instant's firings have started (SDF3 takes it amid the
  ends of that instant). Stored-state counts can therefore be lower than SDF3's; throughputs
  are the same;
* the first stored state that repeats closes the periodic phase: throughput = iterations
  completed in it (reference-actor completions / its repetition count) / its duration, as an
  exact :class:`fractions.Fraction` (integer execution times; rational ones are scaled to
  integers first). No firing left to end = deadlock = throughput 0;
* like SDF3, a graph that is not strongly connected is split into strongly connected
  components, each explored on its own (channels between components ignored: unbounded
  buffers); the graph's throughput is the least over the components of their throughput in
  graph iterations; a component without channels (an actor without a self-edge) is unbounded
  and ignored; no bounded component at all = unbounded throughput (``math.inf``).

Two engines with identical semantics: ``python`` (plain lists and dicts, an event calendar:
fastest for small graphs) and ``numpy`` (every instant's ends and starts as vector operations
over padded per-actor channel tables, a ring of pending firings, and a count of each actor's
short input channels, so that only the actors just enabled are examined: fastest from about
150 actors on); ``auto`` picks by component size.

Benchmark (``nice -n 10 python bench/statespace.py --snapshot HEAD``; ``--snapshot`` measures
spikeforge as committed, not the working tree others may be editing): the SDF3 example graphs
(``../shared/data/sdf`` and SDF3's own testbench), and the SNN-shaped families of
:mod:`bench.sdf_graphs` at 6, 8, 100, 1000, 2000, 5000 and 10000 actors (layers of
``min(100, max(2, n // 5))`` clusters, as ``bench/sdf3_compare.py``), each method in its own
child process: spikeforge ``throughput(g)`` (the product's default call) and
``throughput(g, exact=False)``, this module's exploration (time limit, recorded as "timeout"), and
SDF3's binary when present (``bench/sdf3_compare.py``'s runner). Wall and CPU times are the
minimum of 3 runs when a run takes under 1 s (up to 20 runs within 0.2 s for millisecond runs),
else one run; memory is the peak RSS of the timed runs. Writes
``bench/results/statespace.{json,md}``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import resource
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["StateSpaceResult", "statespace_throughput"]

#: Components with at least this many actors use the numpy engine under ``engine="auto"``.
NUMPY_MIN_ACTORS = 150
#: The numpy engine's ring of pending firings has (largest execution time + 1) x actors cells;
#: components above this use the Python engine.
RING_MAX_CELLS = 1 << 22


@dataclass(frozen=True)
class StateSpaceResult:
    """Throughput (graph iterations per time unit) and the size of the exploration."""

    throughput: Fraction | float  # Fraction; math.inf when no component is bounded
    states: int  # stored states (one per iteration of each component), the repeated one included
    steps: int  # instants of the self-timed execution visited (clock steps)
    components: int  # strongly connected components explored
    engine: str
    deadlock: bool


class TimeLimitExceeded(RuntimeError):
    """The exploration ran past its time limit."""


# ----------------------------------------------------------------------------- graph preparation

def _revisit(seen: dict, key: bytes, now, done: int, ref_q: int, steps: int):
    """(throughput, states, steps) when state ``key`` was seen before (the periodic phase ran
    from then to ``now``); else None, with the state stored."""
    prev = seen.get(key)
    if prev is None:
        seen[key] = (now, done)
        return None
    t0, d0 = prev
    if now == t0:
        return math.inf, len(seen) + 1, steps
    return Fraction(done - d0, ref_q * (now - t0)), len(seen) + 1, steps


def _integer_times(graph) -> tuple[list[int], int]:
    """Execution times as integers, scaled by the least common denominator ``L`` (returned)."""
    raw = [a.execution_time for a in graph.actors]
    if all(type(t) is int for t in raw):
        return raw, 1
    times = [Fraction(t) for t in raw]  # a float is converted exactly
    scale = math.lcm(*(t.denominator for t in times))
    return [int(t * scale) for t in times], scale


def _repetition_vector(n: int, src: np.ndarray, dst: np.ndarray, prod: np.ndarray,
                       cons: np.ndarray) -> list[int]:
    """Least positive integer solution of the balance equations, per connected component.

    Ratios are propagated from a root along a breadth-first spanning tree as reduced integer
    pairs; every channel is then checked on the integer solution."""
    q = [1] * n
    if n == 0 or src.size == 0:
        return q
    u, v = np.concatenate([src, dst]), np.concatenate([dst, src])  # q[v] = q[u] * num / den
    num, den = np.concatenate([prod, cons]), np.concatenate([cons, prod])
    adj = csr_matrix((np.ones(u.size, dtype=np.int8), (u, v)), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    edge_key = v * n + u
    by_key = np.argsort(edge_key, kind="stable")
    sorted_key = edge_key[by_key]
    _, roots, sizes = np.unique(comp, return_index=True, return_counts=True)
    for root in roots[sizes > 1].tolist():
        nodes, pred = breadth_first_order(adj, root, directed=False, return_predecessors=True)
        child = nodes[1:]
        parent = pred[child]
        edge = by_key[np.searchsorted(sorted_key, child * n + parent)]  # a channel parent - child
        qn, qd = {root: 1}, {root: 1}
        for c, p, a, b in zip(child.tolist(), parent.tolist(), num[edge].tolist(), den[edge].tolist()):
            x, y = qn[p] * a, qd[p] * b
            g = math.gcd(x, y)
            qn[c], qd[c] = x // g, y // g
        lcm = math.lcm(*qd.values())
        ints = {c: qn[c] * (lcm // qd[c]) for c in qn}
        g = math.gcd(*ints.values())
        for c, x in ints.items():
            q[c] = x // g
    if max(q) * int(max(prod.max(), cons.max())) < 2**62:
        qa = np.asarray(q, dtype=np.int64)
        ok = bool(np.all(qa[src] * prod == qa[dst] * cons))
    else:
        ok = all(q[s] * p == q[d] * c for s, d, p, c in zip(src.tolist(), dst.tolist(), prod.tolist(),
                                                               cons.tolist()))
    if not ok:
        raise ValueError("inconsistent graph: the balance equations have no positive solution")
    return q


@dataclass
class _Component:
    """One strongly connected component with at least one channel, local indices (int64 arrays)."""

    times: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    prod: np.ndarray
    cons: np.ndarray
    tokens: np.ndarray
    ref: int  # reference actor (least repetition count, first in order)
    ref_q: int  # its repetition count in the whole graph


def _components(graph) -> tuple[list[_Component], int]:
    """The graph's strongly connected components that have channels; the time scale."""
    times_list, scale = _integer_times(graph)
    n = len(graph.actors)
    if n == 0:
        return [], scale
    times = np.asarray(times_list, dtype=np.int64)
    arrays = graph.arrays  # index arrays the graph builds once, at construction
    src, dst = arrays.src.astype(np.int64), arrays.dst.astype(np.int64)
    prod, cons = arrays.production.astype(np.int64), arrays.consumption.astype(np.int64)
    tokens = arrays.tokens.astype(np.int64)
    q = _repetition_vector(n, src, dst, prod, cons)
    adj = csr_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n))
    _, label = connected_components(adj, directed=True, connection="strong")
    inner = np.flatnonzero(label[src] == label[dst])
    labs = np.unique(label[src[inner]])
    by_label = np.argsort(label, kind="stable")  # actors grouped by component, in order
    bounds = np.searchsorted(label[by_label], labs)
    ends = np.searchsorted(label[by_label], labs, side="right")
    chan_order = inner[np.argsort(label[src[inner]], kind="stable")]
    chan_bounds = np.searchsorted(label[src[chan_order]], labs)
    chan_ends = np.searchsorted(label[src[chan_order]], labs, side="right")
    local = np.zeros(n, dtype=np.int64)
    comps = []
    for i in sorted(range(labs.size), key=lambda i: int(by_label[bounds[i]])):
        acts = by_label[bounds[i]:ends[i]]
        ks = chan_order[chan_bounds[i]:chan_ends[i]]
        local[acts] = np.arange(acts.size)
        qs = [q[a] for a in acts.tolist()]
        ref = qs.index(min(qs))
        comps.append(_Component(times[acts], local[src[ks]], local[dst[ks]], prod[ks], cons[ks], tokens[ks],
                                ref, qs[ref]))
    return comps, scale


# ----------------------------------------------------------------------------- state keys

def _packed(values: np.ndarray) -> bytes:
    """Non-negative integers in the narrowest unsigned type that holds them, with a type tag."""
    top = int(values.max()) if values.size else 0
    for tag, dtype in ((b"1", np.uint8), (b"2", np.uint16), (b"4", np.uint32), (b"8", np.uint64)):
        if top <= np.iinfo(dtype).max:
            return tag + values.astype(dtype, copy=False).tobytes()
    raise OverflowError("token count above 2**64")


def _firings_key(rem: np.ndarray, actor: np.ndarray, count: np.ndarray) -> bytes:
    """Compact form of the active firings, given in canonical (remaining time, actor) order."""
    return b"|" + _packed(rem) + b"|" + _packed(actor) + b"|" + _packed(count)


# ----------------------------------------------------------------------------- engines

def _deadline_check(deadline: float | None) -> None:
    if deadline is not None and time.perf_counter() > deadline:
        raise TimeLimitExceeded


def _explore_python(comp: _Component, deadline: float | None) -> tuple[Fraction | float, int, int]:
    """Plain-Python exploration of one component: (throughput, stored states, steps)."""
    n = len(comp.times)
    ins: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    outs: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]
    for k, (s, d, p, c) in enumerate(zip(comp.src.tolist(), comp.dst.tolist(), comp.prod.tolist(),
                                         comp.cons.tolist())):
        ins[d].append((k, c))
        outs[s].append((k, p, d))
    ins_t = [tuple(x) for x in ins]
    outs_t = [tuple(x) for x in outs]
    times, ref, ref_q = comp.times.tolist(), comp.ref, comp.ref_q
    tok = comp.tokens.tolist()
    cal: dict[int, dict[int, int]] = {}  # end time -> {actor: firings ending then}
    heap: list[int] = []
    seen: dict[bytes, tuple[int, int]] = {}
    now = done = steps = 0
    next_sample = ref_q
    cand = range(n)
    while True:
        for a in cand:  # start every enabled firing
            inp = ins_t[a]
            k = min(tok[c] // r for c, r in inp)
            if k:
                for c, r in inp:
                    tok[c] -= k * r
                end = now + times[a]
                slot = cal.get(end)
                if slot is None:
                    cal[end] = {a: k}
                    heapq.heappush(heap, end)
                else:
                    slot[a] = slot.get(a, 0) + k
        if done >= next_sample:  # the reference actor completed another iteration: store the state
            flat = []
            for end in sorted(cal):
                slot = cal[end]
                for a in sorted(slot):
                    flat += (end - now, a, slot[a])
            key = array("q", tok).tobytes() + b"|" + array("q", flat).tobytes()
            found = _revisit(seen, key, now, done, ref_q, steps)
            if found is not None:
                return found
            next_sample = (done // ref_q + 1) * ref_q
        if not heap:
            return Fraction(0), len(seen), steps  # deadlock
        steps += 1
        if not steps & 4095:
            _deadline_check(deadline)
        now = heapq.heappop(heap)
        ended = cal.pop(now)
        touched = set()
        for a, k in ended.items():  # end the firings due now
            if a == ref:
                done += k
            for c, p, d in outs_t[a]:
                tok[c] += k * p
                touched.add(d)
        cand = touched


def _padded(rows: np.ndarray, n: int, width: int, fill: int) -> np.ndarray:
    """``n`` x ``width`` table of the channel ids of each row (``rows[k]`` = row of channel k),
    padded with ``fill``."""
    order = np.argsort(rows, kind="stable")
    start = np.searchsorted(rows[order], np.arange(n))
    table = np.full((n, width), fill, dtype=np.int64)
    table[rows[order], np.arange(order.size) - start[rows[order]]] = order
    return table


def _numpy_fits(comp: _Component) -> bool:
    """Whether the numpy engine's tables are small: the ring of pending firings (largest
    execution time + 1 rows x actors), and the padded channel tables (actors x largest degree)."""
    n, m = comp.times.size, comp.src.size
    degree = int(max(np.bincount(comp.src, minlength=n).max(), np.bincount(comp.dst, minlength=n).max()))
    return (int(comp.times.max()) + 1) * n <= RING_MAX_CELLS and n * degree <= 4 * m + 64 * n


def _explore_numpy(comp: _Component, deadline: float | None) -> tuple[Fraction | float, int, int]:
    """Vectorised exploration of one component: (throughput, stored states, steps).

    Channels are gathered through padded per-actor tables (the pad is an extra channel with
    ample tokens, rate 1 to divide by and 0 to consume or produce). ``short[a]`` counts the input
    channels of ``a`` holding fewer tokens than it consumes: the actors enabled after the firings
    ending at an instant are those whose last short channel was just filled. Active firings live
    in a ring ``pending[(end time) % W, actor]`` of firing counts (``W`` = largest execution time
    + 1), so starting or ending a batch of firings is a few vector operations. Actors are
    relabelled in order of execution time: the firings started at one instant then come grouped
    by end time without sorting.
    """
    n, m = comp.times.size, comp.src.size
    order = np.argsort(comp.times, kind="stable")
    label = np.empty(n, dtype=np.int64)
    label[order] = np.arange(n)
    times = comp.times[order]
    src, dst = label[comp.src], label[comp.dst]
    pad = m  # the extra channel
    tok = np.append(comp.tokens, np.int64(2**62))
    ins = _padded(dst, n, int(np.bincount(dst, minlength=n).max()), pad)  # actor -> its input channels
    outs = _padded(src, n, int(np.bincount(src, minlength=n).max()), pad)  # actor -> its output channels
    cons_div = np.append(comp.cons, 1)[ins]
    cons_in = np.append(comp.cons, 0)[ins]
    cons_out = np.append(comp.cons, 0)[outs]
    prod_out = np.append(comp.prod, 0)[outs]
    succ = np.append(dst, n)[outs]  # actor -> consumers of its outputs (n: the pad)
    short = np.bincount(dst[comp.tokens < comp.cons], minlength=n)
    ref, ref_q = int(label[comp.ref]), comp.ref_q
    width = int(times[-1]) + 1
    pending = np.zeros((width, n), dtype=np.int64)
    span = np.arange(width)
    heap: list[int] = []  # instants with firings due
    due: set[int] = set()
    mark = np.zeros(n, dtype=bool)
    seen: dict[bytes, tuple[int, int]] = {}
    now = done = steps = 0
    next_sample = ref_q
    acts = np.flatnonzero(short == 0)
    while True:
        if acts.size:  # start every enabled firing: acts are the enabled actors
            ich = ins[acts]
            before = tok[ich]
            k = (before // cons_div[acts]).min(axis=1)
            need = cons_in[acts]
            after = before - need * k[:, None]  # the pad repeats, minus 0
            tok[ich] = after
            short[acts] = (after < need).sum(axis=1)
            t = times[acts]  # sorted: actors are labelled by execution time
            pending[(now + t) % width, acts] += k
            first = np.flatnonzero(t[1:] != t[:-1]) + 1
            for end in (now + int(t[0]), *(now + t[first]).tolist()):
                if end not in due:
                    due.add(end)
                    heapq.heappush(heap, end)
        if done >= next_sample:  # store the state once per iteration
            rows = pending[(now + span) % width]
            rem, act = np.nonzero(rows)  # (remaining time, actor) in canonical order
            key = _packed(tok[:m]) + _firings_key(rem, act, rows[rem, act])
            found = _revisit(seen, key, now, done, ref_q, steps)
            if found is not None:
                return found
            next_sample = (done // ref_q + 1) * ref_q
        if not heap:
            return Fraction(0), len(seen), steps  # deadlock
        steps += 1
        if not steps & 255:
            _deadline_check(deadline)
        now = heapq.heappop(heap)  # end the firings due now
        due.discard(now)
        row = pending[now % width]
        ended = np.flatnonzero(row)
        counts = row[ended]
        row[ended] = 0
        done += int(counts[ended == ref].sum())
        och = outs[ended]
        before = tok[och]
        after = before + prod_out[ended] * counts[:, None]  # the pad adds 0
        tok[och] = after  # one source per channel: no repeats but the pad
        need = cons_out[ended]
        filled = succ[ended][(before < need) & (after >= need)]  # consumers of channels just filled
        if filled.size:
            np.subtract.at(short, filled, 1)
            mark[filled] = True
            acts = np.flatnonzero(mark)
            mark[acts] = False
            acts = acts[short[acts] == 0]
        else:
            acts = filled


def statespace_throughput(graph, *, engine: str = "auto", time_limit: float | None = None) -> StateSpaceResult:
    """Throughput of ``graph`` (a :class:`spikeforge.ir.dataflow.DataflowGraph`) by exploring
    the states of its self-timed execution until one repeats (SDF3's semantics; see the module
    docstring). ``engine``: "python", "numpy" or "auto"; ``time_limit`` in seconds raises
    :class:`TimeLimitExceeded`."""
    if engine not in ("auto", "python", "numpy"):
        raise ValueError(f"engine must be auto, python or numpy, got {engine!r}")
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    comps, scale = _components(graph)
    best: Fraction | float = math.inf
    states = steps = 0
    used = set()
    for comp in comps:
        kind = engine if engine != "auto" else ("numpy" if len(comp.times) >= NUMPY_MIN_ACTORS else "python")
        if kind == "numpy" and not _numpy_fits(comp):
            kind = "python"  # execution times too long, or degrees too uneven, for the numpy tables
        used.add(kind)
        value, s, k = (_explore_numpy if kind == "numpy" else _explore_python)(comp, deadline)
        states += s
        steps += k
        best = min(best, value)
        if best == 0:
            break  # a deadlocked component: the graph's throughput is 0
    if best != math.inf:
        best = best * scale
    return StateSpaceResult(best, states, steps, len(comps), "+".join(sorted(used)) or "none", best == 0)


# ----------------------------------------------------------------------------- benchmark

#: Sizes (actors) of the generated graphs.
FULL_SIZES = (6, 8, 100, 1_000, 2_000, 5_000, 10_000)
QUICK_SIZES = (6, 8, 100)
#: A measurement is repeated (3 runs, minimum kept) when its first run is faster than this.
REPEAT_BELOW_S = 1.0
MAX_RUNS, FAST_BUDGET_S = 20, 0.2
#: spikeforge's exact throughput is computed (and compared exactly) up to this many firings
#: per iteration; above, floats are compared to REL_TOL.
EXACT_MAX_FIRINGS = 20_000
REL_TOL = 1e-9


def _timed(fn):
    """(last value, best wall seconds, best CPU seconds, runs): 3 runs when the first is under REPEAT_BELOW_S, and up to
    MAX_RUNS within FAST_BUDGET_S when runs are faster than that budget allows (millisecond
    figures are noisy on a shared machine)."""
    best = cpu = math.inf
    total, runs = 0.0, 0
    while runs < 1 or best < REPEAT_BELOW_S and (runs < 3 or (runs < MAX_RUNS and total < FAST_BUDGET_S)):
        c0, t0 = time.process_time(), time.perf_counter()
        value = fn()
        took = time.perf_counter() - t0
        best, cpu = min(best, took), min(cpu, time.process_time() - c0)
        total, runs = total + took, runs + 1
    return value, best, cpu, runs


def _text(value) -> str:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    return "inf" if value == math.inf else repr(float(value))


def _value(text: str | None) -> Fraction | float | None:
    if text is None:
        return None
    if text == "inf":
        return math.inf
    return Fraction(text) if "/" in text else float(text)


def _rss_mb() -> float:
    """Peak RSS of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    line = next((x for x in text.splitlines() if x.startswith(field + ":")), None)
    return None if line is None else int(line.split()[1]) / 1024


def _reset_peak() -> float | None:
    """Reset this process's peak RSS (Linux ``clear_refs``); the current RSS (MB), None when
    the peak cannot be reset."""
    import ctypes
    import gc

    gc.collect()
    try:  # hand the heap's free pages back first: the analysis must not reuse the parser's pages unseen
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status_mb("VmRSS")


def _growth(before: float | None) -> tuple[float | None, float | None]:
    """Peak RSS since :func:`_reset_peak` (MB), and its excess over the RSS that returned."""
    peak = _status_mb("VmHWM")
    if before is None or peak is None:
        return None, None
    return peak, peak - before


def child(method: str, path: str, time_limit: float) -> None:
    """In a child process: load ``path`` (SDF3 XML), time one method, print a JSON line."""
    import warnings

    warnings.simplefilter("ignore")  # SDF3 files with ambiguous processor types
    from spikeforge.dataflow.analysis import throughput
    from spikeforge.dataflow.consistency import repetition_vector
    from spikeforge.dataflow.sdf3 import read_sdf3
    from spikeforge.errors import DeadlockError, SpikeforgeError

    graph = read_sdf3(path)
    rec: dict = {"rss_loaded_mb": _rss_mb()}
    if method == "statespace":
        before = _reset_peak()
        try:
            res, secs, cpu, runs = _timed(lambda: statespace_throughput(graph, time_limit=time_limit))
        except TimeLimitExceeded:
            rec["status"] = "timeout"
        else:
            rec.update(status="ok", throughput=_text(res.throughput), time_s=secs, cpu_s=cpu, runs=runs,
                       states=res.states,
                       steps=res.steps, components=res.components, engine=res.engine, deadlock=res.deadlock)
        rec["analysis_peak_mb"], rec["analysis_mb"] = _growth(before)
    else:
        def run(**kw):
            try:
                return throughput(graph, **kw).throughput
            except DeadlockError:
                return Fraction(0) if kw.get("exact", True) else 0.0

        firings = sum(repetition_vector(graph).values())
        rec["firings"] = firings
        # The product's default call (exact when every execution time is exact, at the measured commits).
        before = _reset_peak()
        value, secs, cpu, runs = _timed(run)
        rec.update(status="ok", time_s=secs, cpu_s=cpu, runs=runs, default_is_exact=isinstance(value, Fraction))
        rec["throughput_exact" if isinstance(value, Fraction) else "throughput_float"] = _text(value)
        rec["analysis_peak_mb"], rec["analysis_mb"] = _growth(before)
        value, secs, cpu, runs = _timed(lambda: run(exact=False))  # floats
        rec.update(float_time_s=secs, float_cpu_s=cpu, float_runs=runs)
        if not isinstance(value, Fraction):
            rec["throughput_float"] = _text(value)
        if "throughput_exact" not in rec and firings <= EXACT_MAX_FIRINGS:
            try:
                rec["throughput_exact"] = _text(run(exact=True))
            except SpikeforgeError as exc:
                rec["exact_error"] = f"{type(exc).__name__}: {exc}"[:200]
    rec["rss_peak_mb"] = _rss_mb()
    print(json.dumps(rec), flush=True)


def _run_child(method: str, path: Path, timeout: float, mem_gb: float) -> dict:
    from bench.sdf3_compare import _child_env, _last_json, _status, run_limited

    # The in-process limit stops the exploration; the process limit also covers loading the graph.
    run = run_limited([sys.executable, __file__, "--child", method, str(path), "--timeout", str(timeout)],
                      timeout=timeout + 60, mem_gb=mem_gb, env=_child_env())
    rec = _last_json(run["stdout"]) or {}
    rec.setdefault("status", _status(run))
    rec["process_wall_s"], rec["max_rss_mb"] = run["wall_s"], run["max_rss_mb"]
    if rec["status"] not in ("ok", "timeout") or run["returncode"] != 0 and rec["status"] == "ok":
        rec["stderr"] = run["stderr"][-300:]
    return rec


def _run_sdf3(binary: Path, path: Path, timeout: float, mem_gb: float) -> dict:
    """SDF3's ``--algo throughput``, 3 times when a run is under REPEAT_BELOW_S: the fastest."""
    from bench.sdf3_compare import sdf3_throughput

    best = sdf3_throughput(binary, path, timeout, mem_gb)
    runs = 1
    while best["status"] == "ok" and best["wall_s"] < REPEAT_BELOW_S and runs < 3:
        rec = sdf3_throughput(binary, path, timeout, mem_gb)
        runs += 1
        if rec["status"] == "ok" and rec["wall_s"] < best["wall_s"]:
            best = rec
    best["runs"] = runs
    return best


def _compare(ss: dict, sf: dict) -> dict:
    """State space vs spikeforge: exact when both are exact, else floats to REL_TOL."""
    mine = _value(ss.get("throughput"))
    if mine is None:
        return {"equal": None, "how": "state space did not finish"}
    theirs = _value(sf.get("throughput_exact"))
    if theirs is not None:
        return {"equal": mine == theirs, "how": "exact"}
    theirs = _value(sf.get("throughput_float"))
    if theirs is None:
        return {"equal": None, "how": "spikeforge did not finish"}
    if math.isinf(mine) or math.isinf(theirs):
        return {"equal": mine == theirs, "how": "float"}
    return {"equal": math.isclose(float(mine), float(theirs), rel_tol=REL_TOL, abs_tol=0.0), "how": "float"}


def measure(name: str, family: str, path: Path, graph, *, binary: Path | None, args, skip: dict) -> dict:
    from bench.sdf_graphs import graph_stats

    row = {"graph": name, "family": family, **graph_stats(graph)}
    print(f"{name}: {row['actors']:,} actors, {row['channels']:,} channels, sum q {row['sum_q']}", flush=True)
    row["spikeforge"] = _run_child("spikeforge", path, args.timeout, args.mem_gb)
    if skip.get(family):
        row["statespace"] = {"status": f"skipped ({skip[family]})"}
    else:
        row["statespace"] = _run_child("statespace", path, args.timeout, args.mem_gb)
        if row["statespace"]["status"] != "ok" and family != "example":
            skip[family] = f"{row['statespace']['status']} at {row['actors']:,} actors"
    if binary is None:
        row["sdf3"] = {"status": "not found"}
    else:
        row["sdf3"] = _run_sdf3(binary, path, args.timeout, args.mem_gb)
    row.update(_compare(row["statespace"], row["spikeforge"]))
    mine = _value(row["statespace"].get("throughput"))
    row["sdf3_equal"] = (None if mine is None or "throughput" not in row["sdf3"] else
                         float(mine) == row["sdf3"]["throughput"])
    ss_s, sf_s = row["statespace"].get("time_s"), row["spikeforge"].get("time_s")
    row["ratio"] = ss_s / sf_s if ss_s and sf_s else None  # > 1: the state space is slower
    ss_c, sf_c = row["statespace"].get("cpu_s"), row["spikeforge"].get("cpu_s")
    row["ratio_cpu"] = ss_c / sf_c if ss_c and sf_c else None
    row["load_average_1min"] = os.getloadavg()[0]
    print(f"   spikeforge {row['spikeforge'].get('throughput_exact', row['spikeforge'].get('throughput_float'))} "
          f"{sf_s if sf_s is None else f'{sf_s:.4f}'} s | state space {row['statespace'].get('status')} "
          f"{row['statespace'].get('throughput')} {ss_s if ss_s is None else f'{ss_s:.4f}'} s, "
          f"{row['statespace'].get('states')} states | SDF3 {row['sdf3'].get('status')} "
          f"{row['sdf3'].get('wall_s', math.nan):.3f} s | equal {row['equal']} ({row['how']})", flush=True)
    return row


def _s(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1e3:.2f} ms" if value < 0.1 else f"{value:.3f} s" if value < 100 else f"{value:,.0f} s"


def conclusion(rows: list[dict]) -> str:
    """One or two sentences from the numbers: which method is faster, by how much, where."""
    both = [r for r in rows if r["ratio"] is not None]
    timeouts = [r["graph"] for r in rows if r["statespace"].get("status") == "timeout"]
    if not both:
        return "No graph was analysed by both methods."
    faster = [r for r in both if r["ratio"] < 1]
    big = [r for r in both if r["family"] != "example" and r["actors"] >= 1_000]
    geo = math.exp(sum(math.log(r["ratio"]) for r in both) / len(both))
    text = (f"Expansion + Howard (spikeforge `throughput(g)`) is faster than the state-space exploration on "
            f"{len(both) - len(faster)} of {len(both)} graphs (geometric mean of the time ratio {geo:.1f}×")
    if big:
        lo, hi = min(r["ratio"] for r in big), max(r["ratio"] for r in big)
        worst = max(big, key=lambda r: r["statespace"]["time_s"])
        text += (f"; {lo:.1f}–{hi:.1f}× on the generated graphs of 1,000 actors and more, e.g. {worst['graph']}: "
                 f"{_s(worst['statespace']['time_s'])} vs {_s(worst['spikeforge']['time_s'])}")
    text += ")"
    if faster:
        slowest = max(max(r["statespace"]["time_s"], r["spikeforge"]["time_s"]) for r in faster)
        saved = max(r["spikeforge"]["time_s"] - r["statespace"]["time_s"] for r in faster)
        text += (f"; the exploration wins on {len(faster)} graph(s) of at most "
                 f"{max(r['actors'] for r in faster):,} actors, where both methods take under {_s(slowest)} "
                 f"(at most {_s(saved)} saved)")
    if timeouts:
        text += "; it timed out on " + ", ".join(timeouts)
    text += ". "
    if not any(r in faster for r in big) and not timeouts or len(faster) * 2 < len(both):
        text += ("The product therefore keeps expansion + Howard: the state space wins only where both take "
                 "about a millisecond, and loses by a growing factor as graphs grow." if faster else
                 "The product therefore keeps expansion + Howard.")
    else:
        text += "The numbers favour the state-space method on part of the set: worth considering where it wins."
    return text


def markdown(data: dict) -> str:
    rows = data["results"]
    load = data["load_average_1_5_15"]
    lines = [
        "# Throughput: state-space exploration vs expansion + Howard (issue: explore the state space as SDF3 does)",
        "",
        ("The state-space method is `bench/statespace.py` (a benchmark reference, not in the product): "
        "self-timed execution with auto-concurrency and unbounded channels as SDF3's "
        "`sdf3analysis-sdf --algo throughput` (Ghamarian et al., ACSD 2006), one state stored per iteration "
        "in a dict keyed on its bytes, until a state repeats; exact `Fraction` results; numpy engine for "
        "components of ≥ 150 actors. *spikeforge* is the product's default call `throughput(g)` (symbolic "
        "expansion into a max-plus graph + Howard's policy iteration; exact `Fraction`s when every execution "
        "time is exact, as here: Howard in floats, the optimum certified in integers); *spikeforge float* is "
        "`throughput(g, exact=False)`. Throughputs are compared exactly (with `exact=True` when the default "
        "gave a float and the iteration has ≤ 20,000 firings), else as floats to 1e-9 relative. Each method "
        "runs in its own niced child process on the graph loaded from SDF3 XML (load not timed); times are "
        "the best of 3 runs when a run is under 1 s (of up to 20 within 0.2 s for millisecond runs), else 1 "
        f"run; {data['timeout_s']:g} s limit. *states* = "
        "stored states (one per iteration, the repeated one included), *steps* = clock steps of the "
        "execution. MB = peak RSS of the child during the timed runs (interpreter, spikeforge and the loaded "
        "graph included; the peak is reset through `/proc/self/clear_refs` after loading and `malloc_trim`); "
        "in parentheses its excess over the RSS before the runs: the analysis' own memory (spikeforge: the "
        "default call). *ratio* = state-space wall time / spikeforge `throughput(g)` wall time (> 1: the state "
        "space is slower); in parentheses the same ratio of CPU times, less sensitive to the other work on "
        "the machine. SDF3 = its binary's whole-process wall time (best of "
        "3 under 1 s) and, in parentheses, the analysis time it prints."),
        "",
        f"spikeforge measured: {data.get('spikeforge', 'working tree')}.",
        "",
        (f"Machine: 2 cores shared with other work; load average at the start {data['load_average_start'][0]:.2f}, "
         f"at the end {load[0]:.2f} (1 min), {load[1]:.2f} (5 min)."),
        "",
        "**Conclusion.** " + data["conclusion"],
        "",
        ("| graph | actors | channels | Σq | throughput (state space) | spikeforge | equal | states | steps "
         "| state space | spikeforge | spikeforge float | ratio | state space MB | spikeforge MB | SDF3 | SDF3 equal |"),
        "|---|---:|---:|---:|---|---|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        ss, sf, sd = r["statespace"], r["spikeforge"], r["sdf3"]
        ss_time = _s(ss.get("time_s")) if ss.get("status") == "ok" else (
            f"> {data['timeout_s']:g} s (timeout)" if ss.get("status") == "timeout" else ss.get("status"))
        sf_thr = sf.get("throughput_exact", sf.get("throughput_float", sf.get("status")))
        eq = {True: "yes", False: "**NO**", None: "–"}[r["equal"]] + (" (float)" if r["how"] == "float" else "")
        sd_time = (f"{_s(sd['wall_s'])} ({_s(sd.get('analysis_s'))})" if sd.get("status") == "ok" else
                   f"> {data['timeout_s']:g} s (timeout)" if sd.get("status") == "timeout" else sd.get("status"))

        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.2g}×"

        ratio += "" if r.get("ratio_cpu") is None else f" ({r['ratio_cpu']:.2g}×)"

        def mb(rec):
            if rec.get("analysis_mb") is None:
                return f"{rec['max_rss_mb']:,.0f}" if "max_rss_mb" in rec else "–"
            return f"{rec['analysis_peak_mb']:,.0f} (+{rec['analysis_mb']:,.1f})"
        lines.append(
            f"| {r['graph']} | {r['actors']:,} | {r['channels']:,} | {r['sum_q'] if r['sum_q'] is not None else '–'} "
            f"| {ss.get('throughput', ss.get('status'))} | {sf_thr} | {eq} | {ss.get('states', '–')} "
            f"| {ss.get('steps', '–')} | {ss_time} | {_s(sf.get('time_s'))} | {_s(sf.get('float_time_s'))} "
            f"| {ratio} | {mb(ss)} | {mb(sf)} | {sd_time} "
            f"| {({True: 'yes', False: '**no**', None: '–'})[r['sdf3_equal']]} |")
    lines += ["", "*SDF3 equal* = SDF3's double (17 digits) is the rounding of the state space's fraction."]
    bad = [r for r in rows if r["equal"] is False]
    if bad:
        lines += ["", "## Disagreements", ""] + [
            f"* {r['graph']}: state space {r['statespace'].get('throughput')}, spikeforge "
            f"{r['spikeforge'].get('throughput_exact', r['spikeforge'].get('throughput_float'))}" for r in bad]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"generated sizes {QUICK_SIZES} only")
    parser.add_argument("--sizes", type=int, nargs="+", help=f"actor counts (default {FULL_SIZES})")
    parser.add_argument("--no-examples", action="store_true", help="skip the SDF3 example graphs")
    parser.add_argument("--sdf3", type=Path, help="sdf3analysis-sdf binary (default $SDF3_BIN or "
                                                  "../.cache/sdf3/bin/sdf3analysis-sdf)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per method and graph (default 120)")
    parser.add_argument("--mem-gb", type=float, default=8.0, help="address-space limit per child (default 8)")
    parser.add_argument("--render-only", action="store_true", help="rewrite the markdown from the JSON")
    parser.add_argument("--child", choices=("statespace", "spikeforge"), help=argparse.SUPPRESS)
    parser.add_argument("child_path", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", metavar="REV",
                        help="measure spikeforge as committed at REV (e.g. HEAD): its src/ is exported to a "
                             "temporary folder put first on PYTHONPATH, so uncommitted edits in the working "
                             "tree do not enter the figures")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.child_path, args.timeout)
        return
    from bench.common import DATA, RESULTS, ROOT, write_results

    if args.snapshot and not os.environ.get("STATESPACE_SNAPSHOT"):
        import subprocess

        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", args.snapshot], check=True,
                                capture_output=True, text=True).stdout.strip()
        folder = tempfile.mkdtemp(prefix="statespace_src_")
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        env = {**os.environ, "STATESPACE_SNAPSHOT": commit, "STATESPACE_SNAPSHOT_DIR": folder,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(folder) / "src"), os.environ.get("PYTHONPATH")]))}
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)

    if args.render_only:
        data = json.loads((RESULTS / "statespace.json").read_text())
        data["conclusion"] = conclusion(data["results"])
        (RESULTS / "statespace.json").write_text(json.dumps(data, indent=1, default=float))
        (RESULTS / "statespace.md").write_text(markdown(data))
        print((RESULTS / "statespace.md").read_text())
        return
    from bench.sdf3_compare import DEFAULT_SDF3, _shown
    from bench.sdf_graphs import FAMILIES
    from spikeforge.dataflow.sdf3 import read_sdf3, write_sdf3

    load_start = os.getloadavg()
    binary = args.sdf3 or (Path(os.environ["SDF3_BIN"]) if os.environ.get("SDF3_BIN") else DEFAULT_SDF3)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        print(f"SDF3 not found at {binary}: its column stays empty", flush=True)
        binary = None
    rows: list[dict] = []
    skip: dict[str, str] = {}
    if not args.no_examples:
        import warnings

        for folder in (DATA / "sdf", ROOT.parent / ".cache" / "sdf3" / "src" / "sdf" / "testbench"):
            files = sorted(folder.glob("*.xml")) if folder.is_dir() else []
            if not files:
                print(f"skipped: no SDF3 example graphs in {folder}", flush=True)
            for path in files:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    graph = read_sdf3(path)
                rows.append(measure(path.name, "example", path, graph, binary=binary, args=args, skip=skip))
    sizes = sorted(set(args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)))
    with tempfile.TemporaryDirectory(prefix="statespace_") as tmp:
        for family in ("homogeneous", "multirate"):
            for n in sizes:
                graph = FAMILIES[family](n, width=min(100, max(2, n // 5)))
                path = Path(tmp) / f"{graph.name}.xml"
                write_sdf3(graph, path)
                rows.append(measure(graph.name, family, path, graph, binary=binary, args=args, skip=skip))
    import spikeforge

    snapshot = os.environ.get("STATESPACE_SNAPSHOT")
    data = {"spikeforge": (f"commit {snapshot[:12]} (exported from git)" if snapshot
                           else f"working tree ({_shown(Path(spikeforge.__file__).parent)})"),
            "sdf3_binary": _shown(binary) if binary else None, "timeout_s": args.timeout,
            "mem_limit_gb": args.mem_gb, "load_average_start": load_start, "load_average_1_5_15": os.getloadavg(),
            "sizes": sizes, "repeat_below_s": REPEAT_BELOW_S, "exact_max_firings": EXACT_MAX_FIRINGS,
            "numpy_min_actors": NUMPY_MIN_ACTORS, "conclusion": conclusion(rows), "results": rows}
    write_results("statespace", data)
    (RESULTS / "statespace.md").write_text(markdown(data))
    print((RESULTS / "statespace.md").read_text())
    if os.environ.get("STATESPACE_SNAPSHOT_DIR"):
        import shutil

        shutil.rmtree(os.environ["STATESPACE_SNAPSHOT_DIR"], ignore_errors=True)
    bad = [r for r in rows if r["equal"] is False]
    if bad:
        sys.exit("throughputs disagree: " + "; ".join(
            f"{r['graph']}: state space {r['statespace'].get('throughput')}, spikeforge "
            f"{r['spikeforge'].get('throughput_exact', r['spikeforge'].get('throughput_float'))}" for r in bad))


if __name__ == "__main__":
    main()
