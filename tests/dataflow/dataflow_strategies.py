"""Hypothesis strategies and helpers shared by the dataflow tests."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph


@st.composite
def hsdf_graphs(draw, *, max_actors=6, live=True, min_time=0):
    """Strongly connected HSDF graph: a ring (last edge with 1 token) plus random edges.

    With ``live`` every extra edge carries >= 1 token, so the graph cannot deadlock.
    """
    n = draw(st.integers(1, max_actors))
    times = draw(st.lists(st.integers(min_time, 9), min_size=n, max_size=n))
    actors = tuple(Actor(f"a{i}", t) for i, t in enumerate(times))
    channels = [Channel(f"r{i}", f"a{i}", f"a{(i + 1) % n}", 1, 1, int(i == n - 1))
                for i in range(n)]
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1),
                                    st.integers(1 if live else 0, 3)), max_size=2 * n))
    channels += [Channel(f"e{k}", f"a{s}", f"a{d}", 1, 1, tok) for k, (s, d, tok) in enumerate(extra)]
    return DataflowGraph(actors, tuple(channels), name="hsdf")


@st.composite
def sdf_graphs(draw, *, max_actors=4):
    """Consistent, live, strongly connected multi-rate SDF graph.

    Repetition counts are drawn first and rates chosen to balance them; the ring's closing
    edge and every extra edge hold a full iteration's worth of tokens, so one iteration can
    always complete.
    """
    n = draw(st.integers(1, max_actors))
    q = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    times = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    actors = tuple(Actor(f"a{i}", t) for i, t in enumerate(times))

    def channel(name, s, d, full):
        g = math.gcd(q[s], q[d])
        m = draw(st.integers(1, 2))
        prod, cons = q[d] // g * m, q[s] // g * m
        tokens = q[d] * cons if full else 0
        return Channel(name, f"a{s}", f"a{d}", prod, cons, tokens)

    channels = [channel(f"r{i}", i, (i + 1) % n, i == n - 1) for i in range(n)]
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    channels += [channel(f"e{k}", s, d, True) for k, (s, d) in enumerate(extra)]
    return DataflowGraph(actors, tuple(channels), name="sdf")


def eventually_periodic(ends, period, max_cyclicity=30):
    """True when t(K) - t(K - c) == c * period for some cyclicity c (exact arithmetic)."""
    return any(ends[-1] - ends[-1 - c] == c * period
               for c in range(1, min(max_cyclicity, len(ends) - 1) + 1))
