"""bench/statespace.py (SDF3-style state-space throughput, a benchmark reference) agrees exactly
with spikeforge's ``throughput(exact=True)`` on small hand-built graphs, with both engines."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.statespace import statespace_throughput
from spikeforge.dataflow.analysis import throughput
from spikeforge.errors import DeadlockError
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph

GRAPHS = {
    # HSDF ring, every actor with a one-token self-edge (not re-entrant).
    "self_edges": DataflowGraph(
        (Actor("A", 3), Actor("B", 5), Actor("C", 2)),
        (Channel("ab", "A", "B", 1, 1, 0), Channel("bc", "B", "C", 1, 1, 0), Channel("ca", "C", "A", 1, 1, 3),
         Channel("sa", "A", "A", 1, 1, 1), Channel("sb", "B", "B", 1, 1, 1), Channel("sc", "C", "C", 1, 1, 1)),
        name="self_edges"),
    # The same ring without self-edges (and a zero-time actor): auto-concurrency lets the three
    # tokens overlap.
    "no_self_edges": DataflowGraph(
        (Actor("A", 3), Actor("B", 5), Actor("C", 2), Actor("D", 0)),
        (Channel("ab", "A", "B", 1, 1, 0), Channel("bc", "B", "C", 1, 1, 0), Channel("cd", "C", "D", 1, 1, 0),
         Channel("da", "D", "A", 1, 1, 3)),
        name="no_self_edges"),
    # Multi-rate, repetition vector (3, 2, 6); B has a self-edge, A and C none.
    "multirate": DataflowGraph(
        (Actor("A", 2), Actor("B", 5), Actor("C", 1)),
        (Channel("ab", "A", "B", 2, 3, 0), Channel("ba", "B", "A", 3, 2, 7), Channel("bc", "B", "C", 3, 1, 0),
         Channel("cb", "C", "B", 1, 3, 4), Channel("sb", "B", "B", 1, 1, 1)),
        name="multirate"),
    # Two strongly connected components joined by one channel; the slower one bounds the graph.
    "two_components": DataflowGraph(
        (Actor("A", 4), Actor("B", 1), Actor("C", 3)),
        (Channel("sa", "A", "A", 1, 1, 1), Channel("ab", "A", "B", 3, 1, 0), Channel("bc", "B", "C", 2, 1, 0),
         Channel("cb", "C", "B", 1, 2, 3)),
        name="two_components"),
    # A cycle without a token.
    "deadlock": DataflowGraph(
        (Actor("A", 1), Actor("B", 2), Actor("C", 1)),
        (Channel("ab", "A", "B", 2, 1, 0), Channel("ba", "B", "A", 1, 2, 1), Channel("sc", "C", "C", 1, 1, 1),
         Channel("ac", "A", "C", 1, 2, 0)),
        name="deadlock"),
}


def _spikeforge(graph: DataflowGraph) -> Fraction:
    try:
        return throughput(graph, exact=True).throughput
    except DeadlockError:
        return Fraction(0)


@pytest.mark.parametrize("engine", ["python", "numpy"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_statespace_equals_spikeforge_exact(name, engine):
    graph = GRAPHS[name]
    result = statespace_throughput(graph, engine=engine)
    assert isinstance(result.throughput, Fraction)
    assert result.throughput == _spikeforge(graph)
    assert result.deadlock == (name == "deadlock")


def test_deadlock_is_zero_and_spikeforge_raises():
    with pytest.raises(DeadlockError):
        throughput(GRAPHS["deadlock"], exact=True)
    assert statespace_throughput(GRAPHS["deadlock"]).throughput == 0


def test_examples_are_not_trivial():
    """The graphs exercise what they are named for: distinct, positive values."""
    values = {name: _spikeforge(g) for name, g in GRAPHS.items() if name != "deadlock"}
    assert all(v > 0 for v in values.values())
    assert values["no_self_edges"] > values["self_edges"]  # auto-concurrency pays off
