"""spikeforge against SDF3 on random graphs of bench/sdf3_fuzz.py (seed 20240611), without SDF3.

Each graph below is case ``i`` of the campaign (``bench.sdf3_fuzz.make_case(20240611, i)``), on
which SDF3 (``sdf3analysis-sdf``, printing 17 significant digits) and spikeforge agreed; SDF3's
answer is hard-coded, as the exact fraction whose double SDF3 printed (both checked: the exact
value, and that its double is SDF3's). So the suite keeps checking SDF3 equality where the SDF3
binary is absent.
"""

from fractions import Fraction

import pytest

from spikeforge.dataflow.analysis import throughput
from spikeforge.dataflow.buffers import buffer_tradeoff
from spikeforge.errors import DeadlockError, InvalidGraphError
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph


def graph(name, times, channels):
    """Actors ``a0, a1, ...`` with ``times``; channels ``c0, c1, ...`` as (src, dst, p, c, tokens)."""
    return DataflowGraph(tuple(Actor(f"a{i}", t) for i, t in enumerate(times)),
                         tuple(Channel(f"c{k}", f"a{s}", f"a{d}", p, c, t)
                               for k, (s, d, p, c, t) in enumerate(channels)), name=name)


CASES = {
    # multi-rate ring with a parallel back-edge
    13: graph("fuzz13", [20, 3, 11], [(0, 1, 4, 4, 0), (1, 2, 1, 6, 0), (2, 0, 6, 1, 12), (1, 0, 2, 2, 24)]),
    # DAG with three parallel back-edges and self-edges
    15: graph("fuzz15", [18, 13, 14], [(0, 1, 6, 1, 0), (0, 2, 5, 4, 0), (1, 0, 1, 6, 26), (1, 0, 1, 6, 24),
                                       (1, 0, 1, 6, 24), (0, 0, 1, 1, 1), (1, 1, 3, 3, 3), (2, 2, 3, 3, 3)]),
    # chain with a back-edge and tokens on a forward channel; a2 (the tail) is unbounded alone
    19: graph("fuzz19", [16, 7, 20], [(0, 1, 3, 3, 6), (1, 2, 4, 5, 0), (1, 0, 1, 1, 10)]),
    # fork/join with self-edges on every actor, a zero-time actor, no back-edge
    27: graph("fuzz27", [16, 10, 1, 0, 12, 12, 15, 9, 14, 13],
              [(0, 1, 5, 4, 0), (1, 2, 5, 5, 0), (2, 3, 1, 5, 2), (3, 9, 6, 2, 0), (0, 4, 1, 4, 0),
               (4, 5, 2, 3, 0), (0, 6, 1, 1, 0), (6, 9, 3, 4, 6), (0, 7, 6, 4, 0), (7, 8, 5, 5, 1),
               (8, 9, 1, 2, 0), (0, 0, 2, 2, 2), (1, 1, 3, 3, 9), (2, 2, 3, 3, 6), (3, 3, 2, 2, 4),
               (4, 4, 1, 1, 1), (5, 5, 1, 1, 1), (6, 6, 2, 2, 2), (7, 7, 1, 1, 1), (8, 8, 2, 2, 6),
               (9, 9, 1, 1, 3)]),
    # multi-rate ring, Σq 151, a zero-time actor
    31: graph("fuzz31", [4, 2, 0, 6, 19, 3, 19],
              [(0, 1, 2, 4, 0), (1, 2, 4, 1, 0), (2, 3, 4, 6, 0), (3, 4, 1, 1, 2), (4, 5, 5, 5, 7),
               (5, 6, 4, 6, 0), (4, 0, 3, 4, 144)]),
    # 12-actor random DAG with back-edges
    37: graph("fuzz37", [6, 7, 12, 19, 11, 10, 14, 11, 16, 10, 16, 16],
              [(0, 1, 3, 3, 0), (0, 2, 1, 1, 1), (1, 3, 3, 5, 0), (0, 4, 4, 4, 4), (2, 5, 6, 5, 0),
               (0, 6, 6, 6, 0), (3, 7, 2, 4, 0), (6, 8, 5, 1, 0), (3, 9, 3, 6, 0), (4, 10, 3, 3, 3),
               (2, 11, 4, 4, 0), (6, 10, 1, 1, 0), (3, 11, 5, 3, 0), (5, 7, 1, 4, 0), (10, 11, 1, 1, 0),
               (1, 11, 6, 6, 0), (1, 2, 1, 1, 0), (2, 3, 3, 5, 0), (0, 8, 5, 1, 0), (6, 2, 1, 1, 10),
               (4, 2, 1, 1, 10), (4, 0, 4, 4, 43), (6, 6, 2, 2, 2), (9, 9, 3, 3, 6)]),
    # two actors, a self-edge with as many tokens as its rate
    12: graph("fuzz12", [1, 6], [(0, 1, 4, 1, 0), (1, 1, 3, 3, 3)]),
    # homogeneous ring with a zero-time actor and self-edges
    24: graph("fuzz24", [0, 4, 13, 6, 13],
              [(0, 1, 1, 1, 1), (1, 2, 1, 1, 0), (2, 3, 1, 1, 0), (3, 4, 1, 1, 0), (4, 0, 1, 1, 1),
               (0, 0, 1, 1, 2), (3, 3, 1, 1, 1)]),
}

#: case -> (SDF3's throughput as printed, the exact value).
SDF3_THROUGHPUT = {
    13: ("0.058823529411764705", Fraction(1, 17)),
    15: ("0.003205128205128205", Fraction(1, 312)),
    19: ("0.10434782608695652", Fraction(12, 115)),
    27: ("0.005208333333333333", Fraction(1, 192)),
    31: ("0.064516129032258063", Fraction(2, 31)),
    37: ("0.0071428571428571426", Fraction(1, 140)),
    12: ("0.041666666666666664", Fraction(1, 24)),
    24: ("0.055555555555555552", Fraction(1, 18)),
}


@pytest.mark.parametrize("case", sorted(SDF3_THROUGHPUT))
def test_throughput_equals_sdf3(case):
    printed, exact = SDF3_THROUGHPUT[case]
    value = throughput(CASES[case], exact=True).throughput
    assert value == exact
    assert float(value) == float(printed)


def test_deadlock_agrees_with_sdf3():
    # case 9: a2's self-edge (rate 2) holds 1 token; SDF3 prints thr = 0
    g = graph("fuzz9", [3, 9, 3, 20], [(0, 1, 2, 1, 0), (1, 2, 2, 3, 0), (0, 3, 1, 5, 0), (0, 0, 2, 2, 6),
                                       (1, 1, 3, 3, 9), (2, 2, 2, 2, 1), (3, 3, 3, 3, 3)])
    with pytest.raises(DeadlockError):
        throughput(g, exact=True)


def test_inconsistency_agrees_with_sdf3():
    # case 17: the back-edge c7 has rates 2:1 between actors that fire equally often; SDF3's
    # --algo consistency: "Graph is not consistent."
    g = graph("fuzz17", [19, 0, 0, 16, 18],
              [(0, 1, 1, 1, 0), (1, 2, 1, 1, 2), (0, 3, 1, 1, 0), (1, 4, 1, 1, 0), (2, 4, 1, 1, 0),
               (0, 2, 1, 1, 0), (0, 4, 1, 1, 0), (4, 2, 2, 1, 3), (0, 0, 1, 1, 1), (1, 1, 1, 1, 3),
               (2, 2, 1, 1, 1), (3, 3, 1, 1, 1), (4, 4, 1, 1, 2)])
    with pytest.raises(InvalidGraphError):
        throughput(g, exact=True)


#: case -> SDF3's buffersize Pareto points (size, throughput), its zero point dropped.
SDF3_PARETO = {
    12: [(10, Fraction(1, 25)), (11, Fraction(1, 24))],
    15: [(102, Fraction(1, 384)), (103, Fraction(1, 332)), (104, Fraction(1, 312))],
    24: [(10, Fraction(1, 19)), (12, Fraction(1, 18))],
    19: [(25, Fraction(1, 131)), (26, Fraction(1, 108)), (28, Fraction(1, 81)), (30, Fraction(2, 131)),
         (31, Fraction(2, 127)), (32, Fraction(2, 123)), (33, Fraction(1, 54)), (37, Fraction(3, 131)),
         (38, Fraction(3, 127)), (39, Fraction(1, 41)), (40, Fraction(3, 119)), (41, Fraction(3, 115)),
         (42, Fraction(1, 36)), (44, Fraction(4, 131)), (45, Fraction(4, 127)), (46, Fraction(4, 123)),
         (47, Fraction(1, 27)), (55, Fraction(1, 23)), (58, Fraction(6, 131)), (59, Fraction(5, 108)),
         (60, Fraction(5, 104)), (61, Fraction(4, 81)), (62, Fraction(4, 77)), (64, Fraction(5, 96)),
         (65, Fraction(7, 131)), (66, Fraction(7, 127)), (67, Fraction(1, 18)), (69, Fraction(3, 50)),
         (72, Fraction(8, 131)), (73, Fraction(5, 81)), (74, Fraction(7, 108)), (76, Fraction(7, 104)),
         (78, Fraction(5, 73)), (79, Fraction(9, 131)), (80, Fraction(9, 127)), (81, Fraction(3, 41)),
         (82, Fraction(2, 27)), (87, Fraction(9, 115)), (90, Fraction(1, 12)), (92, Fraction(7, 81)),
         (94, Fraction(2, 23)), (97, Fraction(1, 11)), (99, Fraction(5, 54)), (101, Fraction(11, 115)),
         (104, Fraction(8, 81)), (106, Fraction(1, 10)), (108, Fraction(8, 77)), (111, Fraction(5, 48)),
         (112, Fraction(12, 115))],
}


@pytest.mark.parametrize("case", sorted(SDF3_PARETO))
def test_buffer_pareto_equals_sdf3(case):
    g = CASES[case]
    points = buffer_tradeoff(g, channels=[c.name for c in g.channels], max_steps=10_000, exact=True)
    assert [(p.total_size, p.throughput) for p in points] == SDF3_PARETO[case]
