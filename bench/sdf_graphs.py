"""SNN-shaped synchronous dataflow graphs for the dataflow benchmarks.

Two families, both shaped like a mapped spiking network: a chain of layers of clusters
(actors); each cluster feeds ``fan_out`` clusters of the next layer; every forward channel has
a back-edge carrying its buffer's free space, and every actor a one-token self-loop (a
cluster is not re-entrant).

* :func:`layered_graph` — homogeneous (HSDF): all rates 1, back-edges with 2 tokens.
  Used by ``bench/dataflow_speed.py`` and ``bench/sdf3_compare.py``.
* :func:`multirate_graph` — multi-rate: every actor gets a repetition count
  :math:`q_a \\in \\{1, 2, 3\\}` and a forward channel ``a -> b`` the rates
  :math:`p = q_b / g`, :math:`c = q_a / g` with :math:`g = \\gcd(q_a, q_b)`, so the graph is
  consistent by construction with repetition vector ``q`` and all rates in 1..3. Its back-edge
  ``b -> a`` (rates swapped) carries ``buffer_iterations`` iterations' worth of tokens,
  :math:`\\mathrm{lcm}(q_a, q_b) \\cdot` ``buffer_iterations`` plus :math:`p + c - 1` (the
  least deadlock-free capacity of the channel on its own). Every layer-``k+1`` actor has a
  predecessor in layer ``k``, so the graph is connected. Every cycle of the graph passes
  through a back-edge or a self-loop, and each back-edge alone holds enough tokens for a whole
  iteration of its consumer, so firing the layers in order completes an iteration: the graph
  is deadlock-free. At 1,000 actors (defaults) the repetition vector sums to about 2,050 and
  the graph holds about 16,000 initial tokens, like the issue's example graph (2,046 and 15,869).

Execution times are uniform integers in 1..19. Both generators are deterministic in ``seed``.

Examples
--------
>>> g = multirate_graph(300)
>>> from spikeforge.dataflow.consistency import repetition_vector
>>> q = repetition_vector(g)
>>> all(q[a.name] == want for a, want in zip(g.actors, multirate_repetitions(300)))
True
>>> max(max(c.production, c.consumption) for c in g.channels)
3
"""

from __future__ import annotations

import math

import numpy as np

from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph

__all__ = ["FAMILIES", "graph_stats", "layered_graph", "multirate_graph", "multirate_repetitions"]

#: Probabilities of the repetition counts 1, 2, 3 of :func:`multirate_graph`'s actors (mean 2.05).
REPETITION_WEIGHTS = (0.30, 0.35, 0.35)


def layered_graph(n_actors: int, *, width: int = 100, fan_out: int = 3, seed: int = 0) -> DataflowGraph:
    """Random layered HSDF graph with ``n_actors`` actors in layers of ``width`` clusters.

    Each actor has a self-loop with one token; each forward channel (fan-out ``fan_out`` into
    the next layer) has a back-edge with 2 tokens.
    """
    rng = np.random.default_rng(seed)
    times = rng.integers(1, 20, size=n_actors)
    actors = tuple(Actor(f"a{i}", int(times[i])) for i in range(n_actors))
    channels = []
    for i in range(n_actors):
        channels.append(Channel(f"s{i}", f"a{i}", f"a{i}", 1, 1, 1))
    n_layers = -(-n_actors // width)
    for layer in range(n_layers - 1):
        lo, hi = layer * width, min((layer + 1) * width, n_actors)
        nlo, nhi = hi, min(hi + width, n_actors)
        for i in range(lo, hi):
            for j in rng.choice(np.arange(nlo, nhi), size=min(fan_out, nhi - nlo), replace=False):
                channels.append(Channel(f"f{i}_{j}", f"a{i}", f"a{j}", 1, 1, 0))
                channels.append(Channel(f"b{i}_{j}", f"a{j}", f"a{i}", 1, 1, 2))
    return DataflowGraph(actors, tuple(channels), name=f"layered{n_actors}")


def multirate_repetitions(n_actors: int, *, seed: int = 0) -> list[int]:
    """The repetition counts (1..3) :func:`multirate_graph` gives its actors ``a0 .. a{n-1}``."""
    rng = np.random.default_rng([seed, 1])
    return [int(v) for v in rng.choice([1, 2, 3], size=n_actors, p=REPETITION_WEIGHTS)]


def multirate_graph(n_actors: int, *, width: int = 100, fan_out: int = 3, buffer_iterations: int = 1,
                    seed: int = 0) -> DataflowGraph:
    """Random layered multi-rate SDF graph, consistent and deadlock-free (see the module docstring).

    Parameters
    ----------
    n_actors : int
        Number of actors (clusters), in layers of ``width``.
    width, fan_out : int
        Layer width; forward channels per actor into the next layer.
    buffer_iterations : int
        Iterations of tokens on each back-edge, above :math:`p + c - 1` (1 is the least that
        the construction proves deadlock-free).
    seed : int
        Random seed (repetition counts, execution times, connections).
    """
    rng = np.random.default_rng(seed)
    times = rng.integers(1, 20, size=n_actors)
    q = multirate_repetitions(n_actors, seed=seed)
    actors = tuple(Actor(f"a{i}", int(times[i])) for i in range(n_actors))
    channels = [Channel(f"s{i}", f"a{i}", f"a{i}", 1, 1, 1) for i in range(n_actors)]
    n_layers = -(-n_actors // width)
    for layer in range(n_layers - 1):
        lo, hi = layer * width, min((layer + 1) * width, n_actors)
        nlo, nhi = hi, min(hi + width, n_actors)
        edges = [(i, int(j)) for i in range(lo, hi)
                 for j in rng.choice(np.arange(nlo, nhi), size=min(fan_out, nhi - nlo), replace=False)]
        reached = {j for _, j in edges}
        edges += [(int(rng.integers(lo, hi)), j) for j in range(nlo, nhi) if j not in reached]
        for i, j in edges:  # every actor of the next layer has a predecessor: one component
            g = math.gcd(q[i], q[j])
            p, c = q[j] // g, q[i] // g  # q[i] * p == q[j] * c; p, c coprime, in 1..3
            channels.append(Channel(f"f{i}_{j}", f"a{i}", f"a{j}", p, c, 0))
            channels.append(Channel(f"b{i}_{j}", f"a{j}", f"a{i}", c, p,
                                    buffer_iterations * q[i] * q[j] // g + p + c - 1))
    return DataflowGraph(actors, tuple(channels), name=f"multirate{n_actors}")


#: Family name -> generator(n_actors) of the benchmarks.
FAMILIES = {"homogeneous": layered_graph, "multirate": multirate_graph}


def graph_stats(graph: DataflowGraph) -> dict:
    """Actors, channels, sum of the repetition vector and initial tokens of ``graph``."""
    from spikeforge.dataflow.consistency import repetition_vector

    try:
        q_sum = sum(repetition_vector(graph).values())
    except Exception:  # noqa: BLE001 - an inconsistent graph: no repetition vector
        q_sum = None
    return {"actors": len(graph.actors), "channels": len(graph.channels), "sum_q": q_sum,
            "initial_tokens": sum(c.initial_tokens for c in graph.channels),
            "homogeneous": graph.is_homogeneous}
