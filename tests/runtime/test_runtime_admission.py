import doctest

import pytest

from spikeforge.dataflow.binding import Platform, bind, with_schedule
from spikeforge.errors import AdmissionError
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
from spikeforge.runtime import admission as admission_module
from spikeforge.runtime.admission import Runtime


def chain(name, times=(2, 3, 2, 1), buffer=2):
    actors = tuple(Actor(f"c{i}", t) for i, t in enumerate(times))
    chans = []
    for i in range(len(times) - 1):
        chans += [Channel(f"f{i}", f"c{i}", f"c{i + 1}", 1, 1),
                  Channel(f"b{i}", f"c{i + 1}", f"c{i}", 1, 1, buffer)]
    return DataflowGraph(actors, tuple(chans), name=name)


def test_admit_and_release():
    rt = Runtime(Platform(6, crossbars_per_core=2))
    r = rt.admit(chain("a"), crossbars=3)
    assert r.admitted and len(r.crossbars) == 3 and r.throughput > 0 and r.decision_ms >= 0
    assert set(r.binding) == {"c0", "c1", "c2", "c3"}
    assert rt.free == tuple(x for x in range(6) if x not in r.crossbars)
    assert set(rt.occupancy().values()) == {"a"} and "a" in rt.admitted
    assert rt.release("a") == r.crossbars and rt.free == tuple(range(6))
    with pytest.raises(AdmissionError, match="no admitted application named 'a' \\(admitted: none\\)"):
        rt.release("a")


def test_reject_when_crossbars_are_short():
    rt = Runtime(Platform(12))
    assert rt.admit(chain("first"), crossbars=3).admitted
    designed = with_schedule(chain("big", times=(1,) * 12), bind(chain("big", times=(1,) * 12),
                                                                 Platform(12), "in-order"))
    r = rt.admit(designed)
    assert not r.admitted and r.reason == "application big needs 12 crossbars, 9 free"
    assert r.crossbars == () and rt.free == tuple(range(3, 12))
    r = rt.admit(chain("c"), crossbars=10)
    assert r.reason == "application c needs 10 crossbars, 9 free"


def test_reject_when_requirement_unmet():
    rt = Runtime(Platform(4))
    r = rt.admit(chain("slow"), crossbars=1, min_throughput=0.5)
    # one crossbar runs c0..c3 in turn: period 8, guarantee 1/8
    assert not r.admitted and r.throughput == pytest.approx(1 / 8)
    assert r.reason == ("application slow: guaranteed throughput 0.125 iterations per time unit "
                        "is below the required 0.5 (on 1 crossbars)")
    assert rt.free == (0, 1, 2, 3)
    ok = rt.admit(chain("slow"), crossbars=4, min_throughput=0.2)
    assert ok.admitted and ok.throughput == pytest.approx(1 / 3)


def test_design_time_orders_are_reused_on_free_crossbars():
    app = chain("app", times=(2, 2, 3, 1, 2, 2))
    p = Platform(8, crossbars_per_core=2, link_latency=2)
    design = bind(app, Platform(3, crossbars_per_core=2, link_latency=2), "local-search")
    rt = Runtime(p)
    assert rt.admit(chain("other"), crossbars=1).admitted  # occupies crossbar 0
    r = rt.admit(with_schedule(app, design))
    assert r.admitted and len(r.crossbars) == 3 and 0 not in r.crossbars
    # the orders are the design's, on renamed crossbars; whole free cores were taken first
    assert sorted(r.orders.values()) == sorted(design.orders.values())
    assert r.throughput == pytest.approx(design.throughput)


def test_malformed_requests():
    rt = Runtime(Platform(4))
    with pytest.raises(AdmissionError, match="must be a DataflowGraph, got str"):
        rt.admit("app")
    with pytest.raises(AdmissionError, match="needs a non-empty name"):
        rt.admit(chain(""))
    with pytest.raises(AdmissionError, match="min_throughput must be a positive finite number, got -1"):
        rt.admit(chain("x"), min_throughput=-1)
    with pytest.raises(AdmissionError, match="crossbars must be an integer >= 1, got 0"):
        rt.admit(chain("x"), crossbars=0)
    with pytest.raises(AdmissionError, match="has no actors"):
        rt.admit(DataflowGraph((), (), name="empty"))
    partial = DataflowGraph((Actor("a", 1, "xbar0"), Actor("b", 1)), (), name="partial")
    with pytest.raises(AdmissionError, match="1 actor\\(s\\) unbound while 1 are bound: b"):
        rt.admit(partial)
    dead = DataflowGraph((Actor("a", 1), Actor("b", 1)),
                         (Channel("ab", "a", "b", 1, 1), Channel("ba", "b", "a", 1, 1)), name="dead")
    with pytest.raises(AdmissionError, match="application dead: .*deadlocks"):
        rt.admit(dead)
    assert rt.admit(chain("x")).admitted
    with pytest.raises(AdmissionError, match="application x is already admitted on crossbars"):
        rt.admit(chain("x"))
    with pytest.raises(AdmissionError, match="Runtime needs a Platform, got int"):
        Runtime(4)


def test_runtime_docstring_examples():
    result = doctest.testmod(admission_module)
    assert result.failed == 0 and result.attempted > 0
