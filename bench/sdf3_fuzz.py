"""Differential test campaign: spikeforge against SDF3 on random SDF graphs nobody chose.

A seeded generator (one ``random.Random(f"{seed}-{i}")`` per case, so case ``i`` can be rebuilt
alone with :func:`make_case`) draws graphs of the class users bring:

* 2 to 12 actors, shapes ``chain``, ``ring``, ``forkjoin`` (source, 2-4 branches, sink) and
  ``dag`` (random DAG plus 0-3 back-edges);
* rates 1-6 drawn on a spanning tree (often equal, a quarter of the graphs homogeneous), every
  other channel given the rates its actors' repetition counts demand (sum of the repetition
  vector at most ``--max-sum-q``); a few graphs get one channel's rate perturbed (inconsistent);
* initial tokens: each back-edge one iteration's worth of its consumer (``c * q_dst``, so the
  graph is live) or more, except in a quarter of the graphs where they are drawn in
  ``[0, c * q_dst]`` (some of those deadlock); now and then tokens on a forward channel;
* self-edges (rate 1-3, 1 or more tokens, rarely fewer than the rate) on some actors;
* execution times 0-20, zero about one time in seven.

For each graph, written with :func:`~spikeforge.dataflow.sdf3.write_sdf3`:

* SDF3 (``sdf3analysis-sdf``, niced, in a child with a timeout): ``--algo consistency``, then
  ``--algo throughput``, and ``--algo buffersize`` on the smaller consistent graphs (timeout
  ``--buffer-timeout``: only the runs that finish in a few seconds are compared);
* spikeforge in this process (``read_sdf3`` of the same file, a time limit per case through
  ``SIGALRM``): ``throughput(exact=True)``, and ``buffer_tradeoff(channels=<every channel>,
  max_steps=MAX_TRADEOFF_STEPS, exact=True)`` on the same graphs as SDF3's buffer run.

Compared: consistency (both refuse, or neither), deadlock (SDF3 throughput 0 = spikeforge's
``DeadlockError``), the throughput (``float(spikeforge_fraction) == sdf3_double``; an unbounded
throughput is ``inf`` for spikeforge and SDF3's ``TDTIME_MAX`` = ``INT_MAX`` sentinel when no
strongly connected component has a channel — counted as agreement, kind ``unbounded``), and the
buffer Pareto points (SDF3's zero point dropped; same list of total sizes and the same
throughputs). Every disagreement keeps its XML and both answers in ``/tmp/sdf3_fuzz_cases/``.
Writes bench/results/sdf3_fuzz.{json,md}.

Run: ``nice -n 10 python bench/sdf3_fuzz.py [--cases 600] [--buffer-cases 200] [--seed 20240611]``
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import signal
import sys
import time
import warnings
from collections import Counter
from fractions import Fraction
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from bench.common import RESULTS, write_results
from bench.sdf3_compare import DEFAULT_SDF3, run_limited, sdf3_buffers, sdf3_throughput

CASES_DIR = Path("/tmp/sdf3_fuzz_cases")
SHAPES = ("chain", "ring", "forkjoin", "dag")
#: SDF3's ``TDTIME_MAX`` (``sdf/basic_types.h``): the throughput it reports when no strongly
#: connected component has a channel (every actor may fire infinitely often at once).
SDF3_UNBOUNDED = float(2**31 - 1)

PARAMS = {
    "actors": [2, 12],
    "rates": [1, 6],
    "p_homogeneous": 0.25,
    "p_equal_rates": 0.3,
    "p_inconsistent": 0.07,
    "p_random_tokens": 0.25,
    "p_forward_tokens": 0.1,
    "p_self_edges": [0.0, 0.3, 0.7, 1.0],
    "self_rate": [1, 3],
    "p_zero_time": 0.15,
    "time": [0, 20],
}


# ----------------------------------------------------------------------------- the generator

def _edges(rng: random.Random, n: int, shape: str):
    """Channels as (src, dst, kind): kind ``tree`` (spanning tree, src < dst), ``fwd`` (another
    forward channel) or ``back`` (src > dst)."""
    edges = []
    if shape == "forkjoin" and n < 4:
        shape = "chain"
    if shape in ("chain", "ring"):
        edges += [(i, i + 1, "tree") for i in range(n - 1)]
        if shape == "ring" or rng.random() < 0.4:
            edges.append((n - 1, 0, "back"))
        if rng.random() < 0.3 and n > 2:
            v = rng.randrange(1, n)
            edges.append((v, rng.randrange(v), "back"))
    elif shape == "forkjoin":
        middle = list(range(1, n - 1))
        k = rng.randint(2, min(4, len(middle)))
        cuts = sorted(rng.sample(range(1, len(middle)), k - 1))
        branches = [middle[a:b] for a, b in zip([0, *cuts], [*cuts, len(middle)], strict=True)]
        for j, branch in enumerate(branches):
            edges.append((0, branch[0], "tree"))
            edges += [(a, b, "tree") for a, b in itertools.pairwise(branch)]
            edges.append((branch[-1], n - 1, "tree" if j == 0 else "fwd"))
        if rng.random() < 0.6:
            edges.append((n - 1, 0, "back"))
    else:  # dag
        edges += [(rng.randrange(i), i, "tree") for i in range(1, n)]
        pairs = {(u, v) for u, v, _ in edges}
        for _ in range(rng.randint(0, n)):
            u, v = sorted(rng.sample(range(n), 2))
            if (u, v) not in pairs:
                pairs.add((u, v))
                edges.append((u, v, "fwd"))
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            u, v = sorted(rng.sample(range(n), 2))
            edges.append((v, u, "back"))
    return shape, edges


def _repetitions(n: int, tree: list[tuple[int, int, int, int]]) -> list[int] | None:
    """Repetition vector of the spanning tree's rates (None: disconnected)."""
    q: list[Fraction | None] = [None] * n
    q[0] = Fraction(1)
    changed = True
    while changed:
        changed = False
        for u, v, p, c in tree:
            if q[u] is not None and q[v] is None:
                q[v], changed = q[u] * p / c, True
            elif q[v] is not None and q[u] is None:
                q[u], changed = q[v] * c / p, True
    if any(x is None for x in q):
        return None
    lcm = math.lcm(*(x.denominator for x in q))
    ints = [int(x * lcm) for x in q]
    g = math.gcd(*ints)
    return [x // g for x in ints]


def make_case(seed: int, index: int, max_sum_q: int = 300) -> dict:
    """Case ``index`` of the campaign with ``seed``: the graph's description and features."""
    from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph

    rng = random.Random(f"{seed}-{index}")
    n = rng.randint(*PARAMS["actors"])
    shape, edges = _edges(rng, n, rng.choice(SHAPES))
    homogeneous = rng.random() < PARAMS["p_homogeneous"]
    lo, hi = PARAMS["rates"]
    for _attempt in range(50):
        rates = {}
        for e, (u, v, kind) in enumerate(edges):
            if kind != "tree":
                continue
            if homogeneous:
                rates[e] = (1, 1)
            elif rng.random() < PARAMS["p_equal_rates"]:
                r = rng.randint(lo, hi)
                rates[e] = (r, r)
            else:
                rates[e] = (rng.randint(lo, hi), rng.randint(lo, hi))
        q = _repetitions(n, [(edges[e][0], edges[e][1], *rates[e]) for e in rates])
        if q is not None and sum(q) <= max_sum_q:
            break
    else:  # fall back to equal rates on the tree
        rates = {e: (1, 1) for e, (_, _, kind) in enumerate(edges) if kind == "tree"}
        q = [1] * n
    kept = []
    for e, (u, v, kind) in enumerate(edges):
        if kind == "tree":
            kept.append((u, v, kind, *rates[e]))
            continue
        g = math.gcd(q[u], q[v])
        p0, c0 = q[v] // g, q[u] // g  # p * q_u = c * q_v
        if max(p0, c0) > hi:
            continue  # no consistent rates within 1..6: the channel is left out
        k = 1 if homogeneous or rng.random() < 0.6 else rng.randint(1, hi // max(p0, c0))
        kept.append((u, v, kind, p0 * k, c0 * k))
    inconsistent = rng.random() < PARAMS["p_inconsistent"]
    if inconsistent:
        others = [i for i, e in enumerate(kept) if e[2] != "tree"]
        if not others:
            u, v = sorted(rng.sample(range(n), 2))
            kept.append((v, u, "back", 1, 1))
            others = [len(kept) - 1]
        i = rng.choice(others)
        u, v, kind, p, c = kept[i]
        while p * q[u] == c * q[v]:
            if rng.random() < 0.5:
                p = p + 1 if p < hi else p - 1
            else:
                c = c + 1 if c < hi else c - 1
        kept[i] = (u, v, kind, p, c)
    random_tokens = rng.random() < PARAMS["p_random_tokens"]
    channels = []
    for u, v, kind, p, c in kept:
        tokens = 0
        if kind == "back":
            full = c * q[v]
            tokens = rng.randint(0, full) if random_tokens else \
                full * rng.choice([1, 1, 1, 2]) + rng.choice([0, 0, rng.randint(0, c)])
        elif rng.random() < PARAMS["p_forward_tokens"]:
            tokens = rng.randint(1, 2 * p)
        channels.append((f"c{len(channels)}", f"a{u}", f"a{v}", p, c, tokens))
    p_self = rng.choice(PARAMS["p_self_edges"])
    for a in range(n):
        if rng.random() < p_self:
            r = 1 if homogeneous else rng.randint(*PARAMS["self_rate"])
            tokens = rng.randint(1, r - 1) if r > 1 and rng.random() < 0.05 else r * rng.choice([1, 1, 1, 2, 3])
            if rng.random() < 0.2:
                tokens = rng.randint(1, 3 * r)
            channels.append((f"c{len(channels)}", f"a{a}", f"a{a}", r, r, tokens))
    times = [0 if rng.random() < PARAMS["p_zero_time"] else rng.randint(1, PARAMS["time"][1])
             for _ in range(n)]
    actors = [(f"a{i}", times[i]) for i in range(n)]
    name = f"fuzz{index}"
    graph = DataflowGraph(tuple(Actor(a, t) for a, t in actors),
                          tuple(Channel(*ch) for ch in channels), name=name)
    features = {"index": index, "shape": shape, "actors": n, "channels": len(channels),
                "self_edges": sum(1 for ch in channels if ch[1] == ch[2]),
                "back_edges": sum(1 for e in kept if e[2] == "back"),
                "homogeneous": homogeneous or all(ch[3] == ch[4] == 1 for ch in channels),
                "sum_q": sum(q), "max_q": max(q), "zero_times": times.count(0),
                "tokens": sum(ch[5] for ch in channels), "random_tokens": random_tokens,
                "made_inconsistent": inconsistent}
    return {"name": name, "actors": actors, "channels": channels, "graph": graph,
            "features": features}


def python_source(case: dict) -> str:
    """The case's graph as Python constructing it."""
    actors = ", ".join(f"Actor({a!r}, {t})" for a, t in case["actors"])
    chans = ",\n     ".join(f"Channel({n!r}, {s!r}, {d!r}, {p}, {c}, {t})"
                           for n, s, d, p, c, t in case["channels"])
    return f"DataflowGraph(({actors},),\n    ({chans},),\n    name={case['name']!r})"


# ----------------------------------------------------------------------------- spikeforge side

class _TimeLimit(Exception):
    pass


def _alarm(signum, frame):
    raise _TimeLimit


def _limited(fn, seconds: float):
    """``fn()`` with a wall-clock limit (SIGALRM): ("ok", value), ("timeout", None) or the error."""
    from spikeforge.errors import DeadlockError, InvalidGraphError

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    t0 = time.perf_counter()
    try:
        return "ok", fn(), time.perf_counter() - t0
    except _TimeLimit:
        return "timeout", None, time.perf_counter() - t0
    except DeadlockError as exc:
        return "deadlock", str(exc)[:200], time.perf_counter() - t0
    except InvalidGraphError as exc:
        return "invalid", str(exc)[:200], time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - a crash is a finding
        return "error", f"{type(exc).__name__}: {exc}"[:300], time.perf_counter() - t0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _frac_text(value) -> str:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    return repr(value)


def spikeforge_throughput(path: Path, limit: float) -> dict:
    from spikeforge.dataflow.analysis import throughput
    from spikeforge.dataflow.sdf3 import read_sdf3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, graph, _ = _limited(lambda: read_sdf3(path), limit)
    if status != "ok":
        return {"status": f"read {status}", "detail": graph}
    status, value, wall = _limited(lambda: throughput(graph, exact=True), limit)
    rec = {"status": status, "wall_s": wall}
    if status == "ok":
        rec["throughput"] = _frac_text(value.throughput)
        rec["value"] = float(value.throughput)
    elif value is not None:
        rec["detail"] = value
    return rec, graph


def sdf3_model(graph):
    """``graph`` as SDF3's buffer sizing sees it: each self-edge fixed at SDF3's lower bound
    ``B = p + max(c, t)`` (SDF3 never enlarges a self-edge), i.e. a second self-edge with ``B - t``
    tokens (its free space, claimed when a firing starts, freed when it ends); and the total-size
    correction for spikeforge's accounting of that extra unbounded self-edge."""
    from spikeforge.ir.dataflow import Channel, DataflowGraph

    extra, correction = [], 0
    for c in graph.channels:
        if c.src == c.dst:
            space = c.production + max(c.consumption, c.initial_tokens) - c.initial_tokens
            extra.append(Channel(f"{c.name}__space", c.dst, c.src, c.consumption, c.production, space))
            correction += c.consumption + max(c.production, space)  # spikeforge's p + max(c, d)
    return DataflowGraph(graph.actors, graph.channels + tuple(extra), graph.name), correction


def spikeforge_buffers(graph, limit: float, model: str = "all") -> dict:
    """``buffer_tradeoff`` with every channel bounded (``model="all"``, the brief's comparison), or
    on :func:`sdf3_model` with the other channels bounded (``"sdf3"``)."""
    from spikeforge.dataflow.buffers import MAX_TRADEOFF_STEPS, buffer_tradeoff

    correction = 0
    if model == "sdf3":
        graph, correction = sdf3_model(graph)
        names = [c.name for c in graph.channels if c.src != c.dst]
    else:
        names = [c.name for c in graph.channels]
    status, points, wall = _limited(lambda: buffer_tradeoff(graph, channels=names, max_steps=MAX_TRADEOFF_STEPS,
                                                            exact=True), limit)
    rec = {"status": status, "wall_s": wall}
    if status == "ok":
        rec["points"] = [[p.total_size - correction, _frac_text(p.throughput), float(p.throughput),
                          dict(p.capacities)] for p in points]
    elif points is not None:
        rec["detail"] = points
    return rec


def referee(binary: Path, graph, points: list, model: str, tmp: Path) -> dict:
    """SDF3's own throughput analysis of each distribution spikeforge lists: the graph with one
    capacity back-edge per bounded channel (``dst -> src``, rates swapped, free space as tokens;
    claimed at a firing's start, freed at its end, SDF3's storage model). Counts the points whose
    throughput SDF3 confirms."""
    from spikeforge.dataflow.sdf3 import write_sdf3
    from spikeforge.ir.dataflow import Channel, DataflowGraph

    if model == "sdf3":
        graph, _ = sdf3_model(graph)
    path = tmp / "referee.xml"
    confirmed, refuted = 0, []
    for size, _text, value, caps in points:
        extra = tuple(Channel(f"{c.name}__cap", c.dst, c.src, c.consumption, c.production,
                              caps[c.name] - c.initial_tokens) for c in graph.channels if c.name in caps)
        write_sdf3(DataflowGraph(graph.actors, graph.channels + extra, graph.name), path)
        rec = sdf3_thr(binary, path, 20.0)
        if rec.get("throughput") == value:
            confirmed += 1
        else:
            refuted.append([size, value, rec.get("throughput"), rec.get("status")])
    return {"confirmed": confirmed, "refuted": refuted}


def pareto_front(points: list) -> list:
    """SDF3's listed sets without the dominated ones (SDF3 drops a set only when its throughput
    equals the previous set's, so a set below an earlier maximum is printed too)."""
    front, best = [], -1.0
    for point in points:
        if point[2] > best:
            front.append(point)
            best = point[2]
    return front


# ----------------------------------------------------------------------------- SDF3 side

def sdf3_thr(binary: Path, path: Path, timeout: float) -> dict:
    """SDF3's throughput, as :func:`bench.sdf3_compare.sdf3_throughput` parses it, but accepting
    the ``inf`` SDF3 prints for a zero-time cycle."""
    try:
        return sdf3_throughput(binary, path, timeout, 4)
    except ValueError:  # "thr(g) = inf": no Fraction of it
        run = run_limited([str(binary), "--graph", str(path), "--algo", "throughput"], timeout=timeout, mem_gb=4)
        m = re.search(r"thr\([^)]*\) = (\S+)", run["stdout"])
        return {"status": "ok", "wall_s": run["wall_s"], "throughput_text": m.group(1),
                "throughput": float(m.group(1))}


def sdf3_consistent(binary: Path, path: Path, timeout: float) -> bool | None:
    run = run_limited([str(binary), "--graph", str(path), "--algo", "consistency"], timeout=timeout,
                      mem_gb=4)
    if "is not consistent" in run["stdout"]:
        return False
    if "is consistent" in run["stdout"]:
        return True
    return None


# ----------------------------------------------------------------------------- comparison

def _ulps(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / math.ulp(max(abs(a), abs(b)) or 1.0)


def compare_throughput(consistent: bool | None, sdf3: dict, sf: dict) -> tuple[str, str]:
    """(verdict, kind): verdict "agreed", "disagreed" or "timeout"; kind names the case."""
    sf_status = sf["status"]
    if consistent is None:
        return "timeout", "sdf3 consistency check failed"
    if not consistent:
        if sf_status == "invalid":
            return "agreed", "inconsistent"
        if sf_status == "timeout":
            return "timeout", "spikeforge timeout"
        return "disagreed", "consistency"
    if sf_status == "invalid":
        return "disagreed", "consistency"
    if sdf3.get("status") != "ok" or "throughput" not in sdf3:
        return "timeout", f"sdf3 {sdf3.get('status')}"
    if sf_status == "timeout":
        return "timeout", "spikeforge timeout"
    if sf_status not in ("ok", "deadlock"):
        return "disagreed", f"spikeforge {sf_status}"
    thr = sdf3["throughput"]
    if sf_status == "deadlock" or thr == 0:
        if sf_status == "deadlock" and thr == 0:
            return "agreed", "deadlock"
        return "disagreed", "deadlock"
    value = sf["value"]
    if value == thr:
        return "agreed", "unbounded" if math.isinf(value) else "throughput"
    if math.isinf(value) and thr == SDF3_UNBOUNDED:
        return "agreed", "unbounded"
    if _ulps(value, thr) <= 4:
        return "disagreed", "throughput (rounding, <= 4 ulp)"
    return "disagreed", "throughput"


def compare_buffers(sdf3: dict, sf: dict) -> tuple[str, str]:
    if sdf3.get("status") != "ok":
        return "timeout", f"sdf3 {sdf3.get('status')}"
    if sf["status"] == "timeout":
        return "timeout", "spikeforge timeout"
    points = pareto_front(sdf3["points"])
    sdf3_dead = not points or (len(points) == 1 and points[0][2] == 0)
    if sf["status"] == "deadlock" or sdf3_dead:
        if sf["status"] == "deadlock" and sdf3_dead:
            return "agreed", "deadlock"
        return "disagreed", "deadlock"
    if sf["status"] != "ok":
        return "disagreed", f"spikeforge {sf['status']}"
    mine = [(p[0], p[2]) for p in sf["points"]]
    theirs = [(p[0], p[2]) for p in points]
    if mine == theirs:
        return "agreed", "pareto"
    if len(mine) == len(theirs) and all(a[0] == b[0] and _ulps(a[1], b[1]) <= 4
                                        for a, b in zip(mine, theirs, strict=True)):
        return "disagreed", "pareto (rounding, <= 4 ulp)"
    # Which front is better where: SDF3 needs more than spikeforge for a throughput (spikeforge
    # found smaller distributions), or less (spikeforge missed some)?
    def least(front, thr):
        sizes = [s for s, v in front if v >= thr * (1 - 1e-12)]
        return min(sizes) if sizes else None
    sf_better = any((least(mine, v) or math.inf) < s for s, v in theirs) or \
        any((least(theirs, v) or math.inf) > s for s, v in mine)
    sdf3_better = any((least(mine, v) or math.inf) > s for s, v in theirs)
    if sf_better and not sdf3_better:
        return "disagreed", "pareto: spikeforge smaller"
    if sdf3_better and not sf_better:
        return "disagreed", "pareto: SDF3 smaller"
    return "disagreed", "pareto: mixed"


# ----------------------------------------------------------------------------- main

def keep_case(case: dict, path: Path, record: dict) -> str:
    CASES_DIR.mkdir(parents=True, exist_ok=True)
    target = CASES_DIR / f"{case['name']}.xml"
    shutil.copyfile(path, target)
    (CASES_DIR / f"{case['name']}.json").write_text(json.dumps(
        {**record, "python": python_source(case)}, indent=1, default=str))
    return str(target)


def run_case(case: dict, args, binary: Path, tmp: Path, want_buffers: bool) -> dict:
    from spikeforge.dataflow.sdf3 import write_sdf3

    path = tmp / f"{case['name']}.xml"
    write_sdf3(case["graph"], path)
    rec = {"features": case["features"]}
    consistent = sdf3_consistent(binary, path, args.timeout)
    rec["sdf3_consistent"] = consistent
    sdf3 = sdf3_thr(binary, path, args.timeout if consistent else 3.0)
    rec["sdf3"] = {k: sdf3.get(k) for k in ("status", "throughput_text", "throughput", "wall_s")}
    out = spikeforge_throughput(path, args.sf_timeout)
    if isinstance(out, dict):  # the file did not read
        sf, graph = out, None
    else:
        sf, graph = out
    rec["spikeforge"] = sf
    rec["verdict"], rec["kind"] = compare_throughput(consistent, sdf3, sf)
    thr = sdf3.get("throughput")
    if (want_buffers and consistent and graph is not None and thr is not None and sdf3["status"] == "ok"
            and thr < SDF3_UNBOUNDED and math.isfinite(thr)
            and case["features"]["actors"] <= args.buffer_max_actors
            and case["features"]["sum_q"] <= args.buffer_max_sum_q):
        b3 = sdf3_buffers(binary, path, args.buffer_timeout, 4)
        rec["buffers"] = {"sdf3": {k: b3.get(k) for k in ("status", "points", "wall_s")}}
        if b3["status"] == "ok":
            b = rec["buffers"]
            b["sdf3_dominated_listed"] = len(b3["points"]) - len(pareto_front(b3["points"]))
            b["spikeforge"] = spikeforge_buffers(graph, args.sf_buffer_timeout)
            b["verdict"], b["kind"] = compare_buffers(b3, b["spikeforge"])
            if case["features"]["self_edges"]:
                b["spikeforge_sdf3_model"] = spikeforge_buffers(graph, args.sf_buffer_timeout, "sdf3")
                b["verdict_sdf3_model"], b["kind_sdf3_model"] = compare_buffers(b3, b["spikeforge_sdf3_model"])
                if b["verdict"] == "disagreed" and b["verdict_sdf3_model"] == "agreed":
                    b["kind"] += ": self-edges enlarged (SDF3 never enlarges one)"
            else:
                b["verdict_sdf3_model"], b["kind_sdf3_model"] = b["verdict"], b["kind"]
        else:
            rec["buffers"]["verdict"], rec["buffers"]["kind"] = "timeout", f"sdf3 {b3['status']}"
            rec["buffers"]["verdict_sdf3_model"] = rec["buffers"]["kind_sdf3_model"] = None
    b = rec.get("buffers", {})
    for verdict, key, model in (("verdict", "spikeforge", "all"), ("verdict_sdf3_model", "spikeforge_sdf3_model", "sdf3")):
        if b.get(verdict) == "disagreed" and b.get(key, {}).get("points"):
            b[key]["referee"] = referee(binary, graph, b[key]["points"], model, tmp)
    if "disagreed" in (rec["verdict"], rec.get("buffers", {}).get("verdict"),
                       rec.get("buffers", {}).get("verdict_sdf3_model")):
        rec["kept"] = keep_case(case, path, rec)
    path.unlink(missing_ok=True)
    return rec


def _features_text(f: dict) -> str:
    bits = [f"{f['shape']}", f"{f['actors']} actors", f"{f['channels']} ch", f"Σq {f['sum_q']}",
            f"{f['self_edges']} self", f"{f['back_edges']} back", f"{f['zero_times']} zero-time"]
    if f["homogeneous"]:
        bits.append("HSDF")
    if f["made_inconsistent"]:
        bits.append("inconsistent")
    return ", ".join(bits)


def summarise(records: list[dict], args, wall: float) -> dict:
    thr_counts = Counter((r["verdict"], r["kind"]) for r in records)
    buf = [r["buffers"] for r in records if "buffers" in r]
    buf_counts = Counter((b["verdict"], b["kind"]) for b in buf)
    model_counts = Counter((b["verdict_sdf3_model"], b["kind_sdf3_model"]) for b in buf
                           if b["verdict_sdf3_model"] is not None)

    def block(counts: Counter, total: int) -> dict:
        return {"cases": total,
                "agreed": sum(v for (verdict, _), v in counts.items() if verdict == "agreed"),
                "agreed_by_kind": {k: v for (verdict, k), v in sorted(counts.items()) if verdict == "agreed"},
                "disagreed": sum(v for (verdict, _), v in counts.items() if verdict == "disagreed"),
                "disagreed_by_kind": {k: v for (verdict, k), v in sorted(counts.items())
                                      if verdict == "disagreed"},
                "timeouts": sum(v for (verdict, _), v in counts.items() if verdict == "timeout"),
                "timeouts_by_kind": {k: v for (verdict, k), v in sorted(counts.items()) if verdict == "timeout"}}

    return {"throughput": block(thr_counts, len(records)),
            "buffers": {**block(buf_counts, len(buf)),
                        "compared": sum(1 for b in buf if b["verdict"] != "timeout"),
                        "sdf3_listed_dominated_sets": sum(1 for b in buf if b.get("sdf3_dominated_listed"))},
            "buffers_sdf3_model": block(model_counts, sum(model_counts.values())),
            "wall_s": wall}


VERDICTS = """## Verdicts (investigated by hand; see the module notes of bench/sdf3_fuzz.py)

* **throughput (rounding, <= 4 ulp)** — SDF3 quirk. Every such graph is not strongly connected.
  SDF3's `SDFstateSpaceThroughputAnalysis::analyze` (selftimed_throughput.cc) then analyses each
  strongly connected component with a channel alone and rescales its double result,
  `thrGc * repVecGC[0] / repVec[idFirstActor]`, two more roundings: the printed double is exactly
  `fl(fl(fl(T_c) * q_c) / q)` for the limiting component (checked on each case), one ulp off the
  correctly rounded exact throughput, which is spikeforge's Fraction.
* **buffers pareto: spikeforge smaller** — SDF3 quirk (its search is incomplete). Every
  distribution spikeforge lists was re-analysed by SDF3 itself (`--algo throughput` on the graph
  with one capacity back-edge per channel, SDF3's storage model) and SDF3 confirms each
  throughput (`referee` in the JSON), so spikeforge's smaller sizes are real; SDF3's
  `--algo buffersize` did not reach them. Its search only enlarges channels found on cycles of its
  abstract dependency graph of the periodic phase, and these cases show that misses distributions.
  Suffix **self-edges enlarged** — test artefact: the brief's comparison bounds every channel
  in spikeforge, self-edges included, and spikeforge enlarges them; SDF3 never enlarges a self-edge
  (`exploreStorageDistribution`: "Do not enlarge the channel if its a self-edge"), so its points
  stop short. Against SDF3's own model (`buffers_sdf3_model`) these cases agree.
* SDF3 lists dominated sets in its buffersize output (a set is dropped only when its throughput
  equals the previous set's, `minimizeStorageDistributionsSet`), so SDF3's points are reduced to
  their Pareto front before comparing.
* `unbounded` counted as agreement: SDF3 returns `TDTIME_MAX` = INT_MAX (2147483647) when no
  strongly connected component has a channel; spikeforge returns inf.
"""


def write_md(summary: dict, records: list[dict], args) -> None:
    lines = ["# SDF3 differential fuzzing", "",
             ("Random SDF graphs (bench/sdf3_fuzz.py) analysed by SDF3 (`sdf3analysis-sdf`) and by "
             "spikeforge; throughputs equal means `float(spikeforge Fraction) == SDF3 double`; buffer "
             "Pareto points equal means the same total sizes with equal throughputs (SDF3's zero point "
             "dropped; every channel bounded, self-edges included)."), "",
             (f"Seed {args.seed}; {args.cases} cases; max Σq {args.max_sum_q}; generator parameters: "
             f"`{json.dumps(PARAMS)}`."),
             (f"Timeouts: SDF3 throughput {args.timeout:g} s, SDF3 buffersize {args.buffer_timeout:g} s, "
             f"spikeforge throughput {args.sf_timeout:g} s, spikeforge buffer_tradeoff "
             f"{args.sf_buffer_timeout:g} s (max_steps = MAX_TRADEOFF_STEPS). Buffer runs on consistent "
             f"graphs with finite SDF3 throughput, ≤ {args.buffer_max_actors} actors, Σq ≤ "
             f"{args.buffer_max_sum_q}. Wall time {summary['wall_s']:.0f} s."), "",
             "| analysis | cases | agreed | disagreed | timeouts |", "|---|---|---|---|---|"]
    for key in ("throughput", "buffers", "buffers_sdf3_model"):
        s = summary[key]

        def kinds(d: dict) -> str:
            return "; ".join(f"{k}: {v}" for k, v in d.items())
        lines.append(f"| {key} | {s['cases']} | {s['agreed']} ({kinds(s['agreed_by_kind'])}) | "
                     f"{s['disagreed']} ({kinds(s['disagreed_by_kind'])}) | {s['timeouts']} "
                     f"({kinds(s['timeouts_by_kind'])}) |")
    lines += ["", ("Agreement kinds: `throughput` equal positive throughputs, `deadlock` both deadlock, "
              "`inconsistent` both refuse (SDF3 `--algo consistency`, spikeforge InvalidGraphError), "
              "`unbounded` spikeforge inf where SDF3 prints its INT_MAX sentinel (no component with a "
              "channel) or inf (zero-time cycles), `pareto` equal Pareto points."), "",
              ("Buffers: `buffers` is the comparison asked for (spikeforge's `buffer_tradeoff` with every "
              "channel bounded, self-edges included, against SDF3's Pareto sets with its dominated sets "
              "dropped); `buffers_sdf3_model` compares against SDF3's own model, where a self-edge keeps "
              "its lower bound p + max(c, t) and is never enlarged (buffer.cc, "
              "`exploreStorageDistribution`): spikeforge's trade-off of the graph with each self-edge's "
              "free space added as a second self-edge, the other channels bounded (identical to "
              "`buffers` on graphs without self-edges). SDF3 listed dominated sets (a set whose "
              "throughput is below an earlier one's) in "
              f"{summary['buffers']['sdf3_listed_dominated_sets']} runs."), "",
              "## Disagreements", ""]
    count = 0
    for r in records:
        f = r["features"]
        if r["verdict"] == "disagreed":
            count += 1
            lines.append(f"- case {f['index']} throughput, {r['kind']}: {_features_text(f)} — SDF3 "
                         f"consistent={r['sdf3_consistent']} thr={r['sdf3'].get('throughput_text')} "
                         f"({r['sdf3'].get('status')}); spikeforge {r['spikeforge'].get('status')} "
                         f"{r['spikeforge'].get('throughput', r['spikeforge'].get('detail', ''))}")
        b = r.get("buffers")
        for verdict, kind, sf_key, label in (("verdict", "kind", "spikeforge", "buffers (all channels)"),
                                             ("verdict_sdf3_model", "kind_sdf3_model", "spikeforge_sdf3_model",
                                              "buffers (SDF3 model)")):
            if not b or b.get(verdict) != "disagreed" or sf_key not in b:
                continue
            count += 1
            sp = b[sf_key]
            ref = sp.get("referee")
            ref = f"; SDF3's throughput analysis confirms {ref['confirmed']}/{len(sp['points'])} of " \
                  f"spikeforge's distributions" + (f" (refuted: {ref['refuted']})" if ref["refuted"] else "") \
                if ref else ""
            lines.append(f"- case {f['index']} {label}, {b[kind]}: {_features_text(f)} — SDF3 "
                         f"{[p[:2] for p in pareto_front(b['sdf3']['points'])]}; spikeforge {sp.get('status')} "
                         f"{[p[:2] for p in sp.get('points', [])] or sp.get('detail', '')}{ref}")
    if not count:
        lines.append("None.")
    lines += ["", VERDICTS]
    lines += ["", ("Disagreeing graphs are kept (XML and both answers) in /tmp/sdf3_fuzz_cases/; any "
              "case is rebuilt by `bench.sdf3_fuzz.make_case(seed, index)`."), ""]
    (RESULTS / "sdf3_fuzz.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=600)
    ap.add_argument("--buffer-cases", type=int, default=220, help="stop buffer runs after this many compared")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--max-sum-q", type=int, default=300)
    ap.add_argument("--sdf3", type=Path, default=DEFAULT_SDF3)
    ap.add_argument("--timeout", type=float, default=20.0, help="SDF3 consistency/throughput (s)")
    ap.add_argument("--buffer-timeout", type=float, default=4.0, help="SDF3 buffersize (s)")
    ap.add_argument("--sf-timeout", type=float, default=20.0, help="spikeforge throughput (s)")
    ap.add_argument("--sf-buffer-timeout", type=float, default=30.0, help="spikeforge buffer_tradeoff (s)")
    ap.add_argument("--buffer-max-actors", type=int, default=8)
    ap.add_argument("--buffer-max-sum-q", type=int, default=80)
    ap.add_argument("--budget", type=float, default=1700.0, help="stop starting cases after this (s)")
    ap.add_argument("--only", type=int, nargs="*", help="run these case indices only (no results written)")
    ap.add_argument("--render", action="store_true", help="rewrite the .md from the .json only")
    args = ap.parse_args(argv)
    if args.render:
        saved = json.loads((RESULTS / "sdf3_fuzz.json").read_text())
        for key, value in saved["settings"].items():
            setattr(args, key, value)
        write_md(saved["summary"], saved["cases"], args)
        return
    if not args.sdf3.is_file():
        sys.exit(f"SDF3 not found at {args.sdf3}")
    import tempfile

    records = []
    t0 = time.perf_counter()
    indices = args.only if args.only else range(args.cases)
    with tempfile.TemporaryDirectory(prefix="sdf3_fuzz_") as tmpdir:
        for i in indices:
            if time.perf_counter() - t0 > args.budget:
                print(f"budget of {args.budget:g} s spent after {len(records)} cases", flush=True)
                break
            case = make_case(args.seed, i, args.max_sum_q)
            compared = sum(1 for r in records if r.get("buffers", {}).get("verdict") not in (None, "timeout"))
            rec = run_case(case, args, args.sdf3, Path(tmpdir), compared < args.buffer_cases)
            records.append(rec)
            b = rec.get("buffers", {})
            print(f"{i:4d} {_features_text(case['features'])}: {rec['verdict']} {rec['kind']} "
                  f"sdf3={rec['sdf3'].get('throughput_text')} sf={rec['spikeforge'].get('throughput', rec['spikeforge']['status'])}"
                  + (f" | buffers {b.get('verdict')} {b.get('kind')}" if b else ""), flush=True)
    wall = time.perf_counter() - t0
    summary = summarise(records, args, wall)
    print(json.dumps(summary, indent=1))
    if args.only:
        return
    write_results("sdf3_fuzz", {"seed": args.seed, "parameters": PARAMS,
                                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                                             if k not in ("sdf3", "only")},
                                "summary": summary, "cases": records})
    write_md(summary, records, args)


if __name__ == "__main__":
    main()
