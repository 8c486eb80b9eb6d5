"""Malformed hardware files, SDF3 graphs, artifacts and oversized mapping requests (issue 17,
items 3 and 4b): each gives a one-line :class:`SpikeforgeError` naming the place and the
numbers, before anything large is read or allocated, never a traceback, a hang or minutes of
allocation.

Random mutations of a valid hardware file, SDF3 graph and artifact either load (and analyse)
or give a ``SpikeforgeError``; a watchdog turns a hang into a failure.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikeforge.resources
from spikeforge.artifact import load_artifact
from spikeforge.dataflow import sdf3
from spikeforge.dataflow.analysis import latency, maxplus_matrix, throughput
from spikeforge.dataflow.buffers import buffer_tradeoff
from spikeforge.dataflow.build import application_graph, build_sdfg
from spikeforge.dataflow.consistency import (MAX_ITERATION_FIRINGS, MAX_REPETITION, check_deadlock,
                                             firing_sequence, repetition_vector)
from spikeforge.dataflow.maxplus import max_cycle_mean, max_cycle_ratio
from spikeforge.dataflow.sdf3 import read_sdf3, to_sdf3_string
from spikeforge.errors import (ArgumentError, InvalidGraphError, InvalidHardwareSpecError,
                               ModelFileError, ResourceError, SpikeforgeError)
from spikeforge.hardware import core_coordinates, hardware_from_dict, hardware_to_toml, load_hardware
from spikeforge.hardware.accelerator import load_accelerator
from spikeforge.ir import network as ir
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
from spikeforge.ir.hardware import board_arrangement
from spikeforge.ir.partition import Partition
from spikeforge.ir.serialize import save_network
from spikeforge.mapping.connectivity import axis_map
from spikeforge.mapping.partition import partition
from spikeforge.mapping.place import check_place_request, place
from spikeforge.sim.simulator import simulate

# --------------------------------------------------------------------------------------------
# helpers


@contextlib.contextmanager
def watchdog(seconds: float, what: str = "call"):
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``."""
    def expired(signum, frame):
        raise TimeoutError(f"{what} still running after {seconds} s (a hang)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def small_memory(monkeypatch, nbytes: int = 1 << 20) -> None:
    """Pretend the machine has ``nbytes`` of memory available."""
    monkeypatch.setattr(spikeforge.resources, "available_memory", lambda: nbytes)


def two_clusters() -> Partition:
    """A partition of two connected clusters (as in the placer's docstring)."""
    return Partition(network="n", hardware="xbar-mesh", strategy="tiles", fan_in=None, timesteps=1,
                     layers=("a", "b"), layer_shapes=((2, 1, 1), (2, 1, 1)), piece_cluster=[0, 1],
                     piece_layer=[0, 1], piece_part=[0, 0],
                     piece_box=[[0, 2, 0, 1, 0, 1], [0, 2, 0, 1, 0, 1]], cluster_rows=[1, 2],
                     cluster_synapses=[2, 4], cluster_memory_bits=[16, 32],
                     cluster_spikes=[1.0, 0.5], cluster_synops=[0, 2.0],
                     traffic=sp.csr_matrix(([1.0], ([0], [1])), shape=(2, 2)),
                     partial_traffic=sp.csr_matrix((2, 2)), limits={})


def hw_text() -> str:
    return hardware_to_toml(load_hardware("xbar-mesh"))


def write(tmp_path: Path, text: str, name: str = "hw.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------
# hardware files


@pytest.mark.parametrize("old, new, match", [
    ("crossbar_rows = 128", "crossbar_rows = 0", r"core\.crossbar_rows = 0: must be ≥ 1"),
    ("crossbar_rows = 128", "crossbar_rows = -128", r"core\.crossbar_rows = -128: must be ≥ 1"),
    ("crossbar_rows = 128", "crossbar_rows = 2147483648",
     r"core\.crossbar_rows = 2147483648: must be ≤ 2147483647"),
    ("crossbar_rows = 128", "crossbar_rows = 1000000000000000000000000000000",
     r"core\.crossbar_rows = 1000000000000000000000000000000: must be ≤ 2147483647"),
    ("crossbar_rows = 128", "crossbar_rows = '128'", r"core\.crossbar_rows = '128': must be an integer"),
    ("crossbar_rows = 128", "crossbar_rows = 128.5", r"core\.crossbar_rows = 128\.5: must be an integer"),
    ("crossbar_rows = 128", "crossbar_rows = [128]", r"core\.crossbar_rows = \[128\]: must be an integer"),
    ("crossbar_rows = 128\n", "", r"core\.crossbar_rows: missing required field"),
    ("per_spike_pj = ", "per_spike_pj = nan #", r"energy\.per_spike_pj = nan: must be finite"),
    ("per_spike_pj = ", "per_spike_pj = 1e308 #", r"energy\.per_spike_pj = 1e\+308: must be ≤ 1e\+30"),
    ("per_spike_pj = ", "per_spike_pj = -1.0 #", r"energy\.per_spike_pj = -1\.0: must be ≥ 0"),
    ("hop_latency_ns = ", "hop_latency_ns = inf #", r"noc\.hop_latency_ns = inf: must be finite"),
    ("link_bandwidth_spikes_per_s = ", "link_bandwidth_spikes_per_s = 0.0 #",
     r"noc\.link_bandwidth_spikes_per_s = 0\.0: must be > 0"),
    ("[timing]", "[timing]\ntimestep_ns = 1e31", r"timing\.timestep_ns = 1e\+31: must be ≤ 1e\+30"),
    ("[board]", "[board]\nturbo = true", r"board\.turbo = true: unknown field"),
])
def test_bad_hardware_fields_name_the_file_and_field(tmp_path, old, new, match):
    text = hw_text()
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(InvalidHardwareSpecError, match=r"hw\.toml: " + match):
        load_hardware(path)


def test_board_totals_beyond_2_to_53_are_refused():
    doc = load_hardware("xbar-mesh").model_dump()
    doc["chip"] = {"mesh_x": 2**31 - 1, "mesh_y": 2**31 - 1}
    with pytest.raises(InvalidHardwareSpecError, match=r"^<dict>: board\.chips = 1: gives 4\.61e\+18 crossbars "
                       r"\(chips × cores per chip × crossbars per core\), more than 2\^53 = 9,007,199,254,740,992$"):
        hardware_from_dict(doc)
    with pytest.raises(InvalidHardwareSpecError, match=r"core\.crossbar_rows = 2147483647: gives "
                       r"3\.69e\+19 bits of synapse memory per core"):
        load_hardware("xbar-mesh").replace(core={"crossbar_rows": 2**31 - 1, "crossbar_columns": 2**31 - 1})


def test_hardware_files_that_are_not_files_or_too_large(tmp_path):
    with pytest.raises(InvalidHardwareSpecError, match="/dev/zero: not a file"):
        load_hardware("/dev/zero")
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with watchdog(10, "loading a FIFO"), pytest.raises(InvalidHardwareSpecError, match="not a file"):
        load_hardware(fifo)
    big = write(tmp_path, hw_text() + "#" * (1 << 20), "big.toml")
    with pytest.raises(InvalidHardwareSpecError,
                       match=r"hardware file .*big\.toml: 1\.0 MiB, more than the 1\.0 MiB"):
        load_hardware(big)
    with pytest.raises(InvalidHardwareSpecError, match=r"big\.toml: 1\.0 MiB, more than the 1\.0 MiB"):
        load_accelerator(big)


@pytest.mark.parametrize("text, match", [
    ("a" + ".a" * 50_000 + " = 1\n", r"line 1: a key 50001 levels deep; keys nest at most 16 levels"),
    ("[" + "a." * 40 + "a]\nx = 1\n", r"line 1: a key 41 levels deep"),
    ("x = " + "[" * 50_000 + "]" * 50_000 + "\n", r"not a valid hardware file \(values nested too deeply to parse\)"),
    ("x = " + "{a = " * 5_000 + "1" + "}" * 5_000 + "\n", r"not a valid hardware file \(values nested too deeply to parse\)"),
])
def test_deeply_nested_toml_is_refused_quickly(tmp_path, text, match):
    path = write(tmp_path, text, "deep.toml")
    with watchdog(10, "parsing a deeply nested TOML file"):
        with pytest.raises(InvalidHardwareSpecError, match=r"deep\.toml: " + match):
            load_hardware(path)
        with pytest.raises(InvalidHardwareSpecError, match=r"deep\.toml: " + match):
            load_accelerator(path)


def test_a_list_of_floats_is_not_a_deep_key(tmp_path):
    text = hw_text().replace("[core]", "[core]\nx = [\n[1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, "
                             "7.5, 8.5]]", 1)
    with pytest.raises(InvalidHardwareSpecError, match=r"core\.x = .*: unknown field"):
        load_hardware(write(tmp_path, text))


def test_accelerator_bounds():
    hw = load_accelerator("pynq-z2-accel")
    with pytest.raises(InvalidHardwareSpecError, match=r"pes = 10{30}: must be ≤ 2147483647"):
        hw.replace(pes=10**30)
    with pytest.raises(InvalidHardwareSpecError, match=r"clock_mhz = 1e\+308: must be ≤ 1e\+30"):
        hw.replace(clock_mhz=1e308)
    for field, value in (("pes", "64"), ("pes", True), ("clock_mhz", "100"), ("weight_bits", 8.0)):
        with pytest.raises(InvalidHardwareSpecError, match=rf"{field} = {value!r}: Input should be"):
            hw.replace(**{field: value})
    assert hw.replace(pes=np.int64(32), clock_mhz=120).pes == 32  # numpy scalars, ints for floats


def test_chip_counts_are_bounded_before_the_board_is_arranged():
    hw = load_hardware("loihi")
    with watchdog(10, "with_chips(10^18 + 9)"):
        with pytest.raises(InvalidHardwareSpecError,
                           match=r"loihi \(with_chips\): board\.chips = 1000000000000000009: must be ≤ 2147483647"):
            hw.with_chips(10**18 + 9)
        with pytest.raises(InvalidHardwareSpecError, match=r"board\.chips = 2147483648: must be ≤ 2147483647"):
            board_arrangement(2**31)
        assert board_arrangement(2**31 - 1) == (46341, 46341)  # a prime: near-square, at once


_VALUES = st.one_of(
    st.integers(-3, 3), st.integers(2**31 - 2, 2**31 + 2), st.integers(min_value=2**53, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, 1e30, 1e-320, 5e-324]),
    st.booleans(), st.text(max_size=5), st.none(), st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_hardware_dicts_load_or_give_a_spec_error(data):
    doc = load_hardware(data.draw(st.sampled_from(["xbar-mesh", "loihi", "truenorth"]))).model_dump()
    section = data.draw(st.sampled_from(sorted(doc)))
    action = data.draw(st.sampled_from(["set", "delete", "add"]))
    target = doc[section] if isinstance(doc[section], dict) else doc
    key = data.draw(st.sampled_from(sorted(target))) if target is not doc else section
    if action == "delete":
        del target[key]
    elif action == "add":
        target["extra_" + key] = data.draw(_VALUES)
    else:
        target[key] = data.draw(_VALUES)
    with watchdog(20, "hardware_from_dict"):
        try:
            hw = hardware_from_dict(doc, source="mutated.toml")
        except SpikeforgeError as exc:
            assert "\n" not in str(exc)
            return
        hw.summary()
        hw.with_chips(3)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10_000), junk=st.text(max_size=8), keep=st.booleans())
def test_mutated_hardware_text_loads_or_gives_a_spec_error(tmp_path, cut, junk, keep):
    text = hw_text()
    cut %= len(text)
    text = text[:cut] + junk + (text[cut:] if keep else text[cut + len(junk):])
    path = write(tmp_path, text, "m.toml")
    with watchdog(20, "load_hardware"):
        try:
            load_hardware(path)
        except SpikeforgeError as exc:
            assert "\n" not in str(exc)


# --------------------------------------------------------------------------------------------
# mapping sizes


def test_a_board_of_10_to_8_chips_is_refused_before_allocating():
    start = time.monotonic()
    with watchdog(30, "place on 10^8 chips"):
        with pytest.raises(ResourceError, match=r"place on loihi: 100,000,000 chip\(s\) of 8 × 16 cores "
                           r"\(12,800,000,000 core positions .*needs .* of memory, .* available"):
            place(two_clusters(), "loihi", chips=10**8)
    assert time.monotonic() - start < 30


def test_a_chip_of_100000_by_100000_cores_loads_but_is_refused_by_the_mapper(tmp_path):
    text = hw_text().replace("[chip]\nmesh_x = 4\nmesh_y = 4", "[chip]\nmesh_x = 100000\nmesh_y = 100000")
    hw = load_hardware(write(tmp_path, text))
    assert hw.cores_per_chip == 10**10  # a valid description: 10^10 cores
    with watchdog(30, "place on a 10^10-core chip"), \
            pytest.raises(ResourceError, match=r"100,000 × 100,000 cores .*needs .* TiB of memory"):
        place(two_clusters(), hw, strategy="fill")
    with pytest.raises(ResourceError, match=r"core coordinates of xbar-mesh: 10,000,000,000 cores: needs"):
        core_coordinates(hw)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"seed": -1}, ArgumentError, r"place: seed -1: must be ≥ 0"),
    ({"seed": 2**31}, ResourceError, r"place: seed 2147483648: at most 2147483647 is supported"),
    ({"seed": 1.5}, ArgumentError, r"seed"),
    ({"refine_moves": -5}, ArgumentError, r"place: refine_moves -5: must be ≥ 0"),
    ({"refine_moves": 10**12}, ResourceError, r"refine_moves 1000000000000: at most 10000000"),
    ({"chips": 0}, InvalidHardwareSpecError, r"board\.chips 0: must be ≥ 1"),
    ({"chips": 2**31}, InvalidHardwareSpecError, r"board\.chips = 2147483648: must be ≤ 2147483647"),
])
def test_placement_arguments_are_range_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        place(two_clusters(), "xbar-mesh", **kwargs)


def test_placement_still_works():
    assert place(two_clusters(), "xbar-mesh", seed=2**31 - 1).cluster_core.shape == (2,)


def test_a_command_can_check_the_board_before_profiling():
    assert check_place_request("loihi", chips=4, seed=7).chips == 4
    with pytest.raises(ResourceError, match=r"place on loihi: 100,000,000 chip\(s\)"):
        check_place_request("loihi", chips=10**8)
    with pytest.raises(ArgumentError, match=r"place: seed -1: must be ≥ 0"):
        check_place_request("xbar-mesh", seed=-1)


def test_dataflow_graph_size_is_checked_before_building(monkeypatch):
    pl = place(two_clusters(), "xbar-mesh", strategy="fill")
    small_memory(monkeypatch, 1000)
    with pytest.raises(ResourceError, match=r"dataflow graph of n: 2 clusters and 1 connections: needs"):
        build_sdfg(pl, None, timesteps=4)
    with pytest.raises(ResourceError, match=r"application graph of n: 2 clusters"):
        application_graph(pl.partition, None, pl.hardware)


def test_tiles_are_checked_against_memory_before_they_are_built(monkeypatch):
    net = ir.Network((ir.Input("x", (), (64,)), ir.Linear("fc", ("x",), np.ones((32, 64), np.float32)),
                      ir.IF("n", ("fc",), threshold=np.float32(1))), outputs=("n",))
    profile = simulate(net, np.ones((2, 64), np.float32), timesteps=2).profile
    tiny = load_hardware("xbar-mesh").replace(core={"crossbar_rows": 2, "crossbar_columns": 1,
                                                    "neurons_per_core": 1})
    assert partition(net, profile, "xbar-mesh", strategy="tiles").n_clusters == 1
    small_memory(monkeypatch, 100_000)
    with pytest.raises(ResourceError, match=r"partition of .* on xbar-mesh: 1,024 tiles of crossbars of "
                       r"2 rows × 1 columns \(layer n: 1,024\): needs 3\.0 MiB of memory"):
        partition(net, profile, tiny, strategy="tiles")


def test_axis_map_sizes():
    assert axis_map(4, 4, 3, 1, 1, 1).nnz == 10
    with pytest.raises(ArgumentError, match=r"axis_map: k 0: must be ≥ 1"):
        axis_map(4, 4, 0, 1, 1, 1)
    with pytest.raises(ResourceError, match=r"axis_map: 10,000,000,000,000 window taps"):
        axis_map(10**6, 10**6, 10**7, 1, 0, 1)


# --------------------------------------------------------------------------------------------
# SDF3 graphs

GOOD = """<sdf3 type="sdf"><applicationGraph name="g"><sdf name="g" type="G">
<actor name="A" type="t"><port name="o" type="out" rate="2"/><port name="i" type="in" rate="2"/>
<port name="s" type="out" rate="1"/><port name="t" type="in" rate="1"/></actor>
<actor name="B" type="t"><port name="i" type="in" rate="3"/><port name="o" type="out" rate="3"/></actor>
<channel name="ab" srcActor="A" srcPort="o" dstActor="B" dstPort="i" initialTokens="0"/>
<channel name="ba" srcActor="B" srcPort="o" dstActor="A" dstPort="i" initialTokens="6"/>
<channel name="aa" srcActor="A" srcPort="s" dstActor="A" dstPort="t" initialTokens="1"/>
</sdf><sdfProperties>
<actorProperties actor="A"><processor type="p" default="true"><executionTime time="3"/></processor></actorProperties>
<actorProperties actor="B"><processor type="p" default="true"><executionTime time="5/2"/></processor></actorProperties>
<channelProperties channel="ab"><tokenSize sz="4"/></channelProperties>
</sdfProperties></applicationGraph></sdf3>"""


def test_the_good_graph_analyses():
    g = read_sdf3(GOOD)
    assert repetition_vector(g) == {"A": 3, "B": 2}
    assert throughput(g, exact=True).throughput > 0
    assert latency(g) > 0


@pytest.mark.parametrize("old, new, match", [
    ('rate="2"/><port name="i" type="in" rate="2"/>\n<port name="s"',
     f'rate="{10**30}"/><port name="i" type="in" rate="3"/>\n<port name="s"',
     r"<string>: actor A, port o: rate 10{30} is larger than 2147483647, the largest supported"),
    ('rate="2"/><port name="i" type="in" rate="2"/>\n<port name="s"',
     'rate="1_0"/><port name="i" type="in" rate="3"/>\n<port name="s"',
     r"actor A, port o: rate must be an integer, got '1_0'"),
    ('rate="2"/><port name="i" type="in" rate="2"/>\n<port name="s"',
     f'rate="{"9" * 5000}"/><port name="i" type="in" rate="3"/>\n<port name="s"',
     r"actor A, port o: rate must be an integer, got '9{37}\.\.\.'"),
    ('initialTokens="6"', f'initialTokens="{10**30}"',
     r"channel ba: initialTokens 10{30} is larger than 9007199254740992"),
    ('<tokenSize sz="4"/>', '<tokenSize sz="4294967296"/>',
     r"channelProperties of ab: token size 4294967296 is larger than 2147483647"),
    ('time="3"', f'time="{10**400}"', r"actorProperties of A: execution time 10{36}\.\.\. is too large"),
    ('time="3"', f'time="{10**400}/3"', r"actorProperties of A: execution time 10{36}\.\.\. is too large"),
    ('time="3"', 'time="inf"', r"actor A: execution time must be finite and >= 0, got inf"),
    ('time="3"', 'time="1/0"', r"execution time must be a number, got '1/0'"),
    ('<sdf3 type="sdf">', '<!DOCTYPE x [<!ENTITY a "aaaa">]><sdf3 type="sdf">',
     r"DTD or entity declarations .* are not accepted"),
])
def test_out_of_range_sdf3_numbers_are_refused_when_read(old, new, match):
    assert old in GOOD
    with pytest.raises(InvalidGraphError, match=match):
        read_sdf3(GOOD.replace(old, new, 1))


def test_execution_times_whose_sums_overflow_are_refused():
    g = read_sdf3(GOOD.replace('time="3"', 'time="1e308"'))  # finite, but 3 firings overflow
    for analysis in (throughput, latency, maxplus_matrix):
        with pytest.raises(InvalidGraphError, match=r"graph 'g': the execution times of one iteration "
                           r"sum to more than 1\.8e308 \(actor A: 3 × 1e\+308\)"):
            analysis(g)
    g = read_sdf3(GOOD.replace('time="3"', 'time="1e290"').replace('initialTokens="6"',
                                                                   f'initialTokens="{6 * 10**15}"'))
    with pytest.raises(InvalidGraphError, match=r"execution times too large to analyse: one iteration "
                       r"takes 3e\+290 time units over 6e\+15 tokens"):
        throughput(g)


def test_repetition_vectors_stay_bounded():
    g = DataflowGraph((Actor("A", 1), Actor("B", 1), Actor("C", 1)),
                      (Channel("ab", "A", "B", 2**16, 1), Channel("bc", "B", "C", 2**16, 1)))
    with pytest.raises(InvalidGraphError, match=r"channel bc \(B -> C\): rates 65536:1 give "
                       r"q\[C\]/q\[A\] = 4294967296, so one iteration fires an actor more than "
                       r"2,147,483,647 times"):
        repetition_vector(g)
    # a long chain of 3:2 channels would grow fractions of thousands of digits; refused early
    n = 3000
    chain = DataflowGraph(tuple(Actor(f"a{i}", 1) for i in range(n)),
                          tuple(Channel(f"c{i}", f"a{i}", f"a{i + 1}", 3, 2) for i in range(n - 1)))
    with watchdog(20, "repetition vector of a 3:2 chain"), \
            pytest.raises(InvalidGraphError, match="more than 2,147,483,647 times"):
        repetition_vector(chain)
    assert MAX_REPETITION == 2**31 - 1


def test_iterations_too_long_to_replay_are_refused_before_starting():
    rate = MAX_ITERATION_FIRINGS  # q = (1, 10^6): 10^6 + 1 firings
    g = DataflowGraph((Actor("A", 1), Actor("B", 1)),
                      (Channel("ab", "A", "B", rate, 1), Channel("aa", "A", "A", 1, 1, 1),
                       Channel("bb", "B", "B", 1, 1, 1)))
    with watchdog(20, "analyses of a 10^6-firing iteration"):
        for call, what in ((check_deadlock, "deadlock check"), (latency, "latency")):
            with pytest.raises(ResourceError, match=what + r".*: one iteration fires 1,000,001 actors "
                               r"\(q\[B\] = 1,000,000\), more than the 1,000,000 firings"):
                call(g)
        # throughput expands the iteration into arrays, and certifies the float optimum exactly
        assert throughput(g, exact=True).period == rate  # B's million firings one by one (its self-edge)
    assert throughput(g, exact=False).period == rate


def test_symbolic_execution_is_bounded_before_it_starts(monkeypatch):
    # 10^5 initial tokens: the iteration matrix alone would be 10^5 × 10^5 (80 GB)
    n = 100_000
    g = DataflowGraph((Actor("A", 1), Actor("B", 2)),
                      (Channel("ab", "A", "B", n, 1), Channel("ba", "B", "A", 1, n, n)))
    with watchdog(20, "symbolic execution"), pytest.raises(
            ResourceError, match=r"graph '': symbolic execution over 100,000 state tokens of 100,001 firings: "
                                 r"needs .* of memory"):
        maxplus_matrix(g)
    g = DataflowGraph((Actor("A", 1), Actor("B", 2)),
                      (Channel("ab", "A", "B", 100, 1), Channel("ba", "B", "A", 1, 100, 100)))
    assert maxplus_matrix(g).matrix.shape == (100, 100)
    small_memory(monkeypatch, 100_000)
    with pytest.raises(ResourceError, match=r"graph '': symbolic execution over 100 state tokens of 101 "
                                            r"firings: needs \d+\.\d KiB of memory, 97\.7 KiB available"):
        maxplus_matrix(g)


def test_a_repetition_vector_given_by_the_caller_is_checked():
    g = read_sdf3(GOOD)
    with pytest.raises(InvalidGraphError, match=r"repetition vector entry q\[B\] = None: must be an integer ≥ 1"):
        firing_sequence(g, {"A": 3})
    with pytest.raises(InvalidGraphError, match=r"q\[A\] = -3: must be an integer ≥ 1"):
        firing_sequence(g, {"A": -3, "B": 2})


def test_buffer_tradeoff_steps_are_bounded():
    g = read_sdf3(GOOD)
    with pytest.raises(ResourceError, match=r"buffer_tradeoff: max_steps 1000000000: at most 10000 is supported"):
        buffer_tradeoff(g, max_steps=10**9)
    with pytest.raises(ArgumentError, match=r"buffer_tradeoff: max_steps -1: must be ≥ 0"):
        buffer_tradeoff(g, max_steps=-1)
    assert buffer_tradeoff(g, max_steps=3)


@pytest.mark.parametrize("args, kwargs, match", [
    ((-1, [], [], [], []), {}, r"n = -1: must be an integer ≥ 0"),
    ((2, [0], [1], [math.inf], [1]), {}, r"weight inf of edge 0 is not finite"),
    ((2, [0], [1], [math.nan], [1]), {}, r"weight nan of edge 0 is not finite"),
    ((2, [0], [1], [1.0], [-1]), {}, r"transit -1 of edge 0 is negative"),
    ((2, ["a"], [1], [1.0], [1]), {}, r"src, dst, transit and hint must be integer arrays"),
    ((2, [0], [1], ["x"], [1]), {}, r"weights must be finite numbers"),
    ((2, [0], [1], [math.inf], [1]), {"exact": True}, r"weights must be finite numbers"),
    ((2, [[0]], [[1]], [[1.0]], [[1]]), {}, r"src must be one-dimensional"),
    ((2, [0, 1], [1, 0], [1e300, 1e300], [1, 1]), {}, r"weights summing to 2e\+300 over a transit of 3"),
    ((2, [0, 1], [1, 0], [1.0, 1.0], [1, 1]), {"hint": [5]}, r"hint must list edge indices in 0\.\.1"),
    ((10**15, [0], [1], [1.0], [1]), {}, r"a graph of 1,000,000,000,000,000 nodes and 1 edges: needs"),
])
def test_max_cycle_ratio_checks_its_arrays(args, kwargs, match):
    with pytest.raises(InvalidGraphError if "needs" not in match else ResourceError, match=match):
        max_cycle_ratio(*args, **kwargs)


def test_max_cycle_mean_checks_its_matrix():
    with pytest.raises(InvalidGraphError, match=r"matrix must hold numbers, got dtype <U1"):
        max_cycle_mean(np.array([["a"]]))
    assert max_cycle_mean(np.array([[2.0]])).value == 2.0


def test_sdf3_files_that_are_not_regular_files(tmp_path):
    with watchdog(10, "read_sdf3(/dev/zero)"), pytest.raises(
            InvalidGraphError, match=r"SDF3 file /dev/zero: not a regular file \(a device, FIFO or socket\)"):
        read_sdf3("/dev/zero")
    fifo = tmp_path / "g.xml"
    os.mkfifo(fifo)
    with watchdog(10, "read_sdf3(FIFO)"), pytest.raises(InvalidGraphError, match="not a regular file"):
        read_sdf3(fifo)
    with pytest.raises(InvalidGraphError, match="is a folder, not a file"):
        read_sdf3(tmp_path)
    with pytest.raises(InvalidGraphError, match="cannot read SDF3 file"):
        read_sdf3(tmp_path / "absent.xml")
    with pytest.raises(InvalidGraphError, match="cannot read SDF3 file: embedded null byte"):
        read_sdf3("g\x00.xml")
    with pytest.raises(InvalidGraphError, match=r"^<string>: malformed XML"):
        read_sdf3("not xml\nat all")  # a line break: text, not a path


def test_sdf3_files_are_checked_for_size_and_memory_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "g.xml"
    path.write_text(GOOD)
    assert read_sdf3(path).name == "g"
    size = path.stat().st_size
    small_memory(monkeypatch, size * 10)  # parsing takes ~16 bytes per byte
    with pytest.raises(InvalidGraphError, match=r"g\.xml: reading an SDF3 file of \d+ B: needs "
                       r"\d+\.\d KiB of memory, \d+\.\d KiB available"):
        read_sdf3(path)
    monkeypatch.setattr(sdf3, "MAX_SDF3_BYTES", 100)
    with pytest.raises(InvalidGraphError, match=r"SDF3 file .*g\.xml: \d+ B, more than the 100 B"):
        read_sdf3(path)


_ATTRIBUTE = '(rate|initialTokens|time|sz|name|srcActor|dstActor|srcPort|dstPort|actor|type|default|channel)="([^"]*)"'
_NUMBERS = st.one_of(st.integers(-5, 12).map(str), st.integers(2**31 - 2, 2**31 + 1).map(str),
                     st.integers(2**53 - 1, 10**40).map(str),
                     st.sampled_from(["1e308", "1e200", "inf", "nan", "-0", "1/3", "3/0", "0x10", " 7 ",
                                      "1e-320", "+4", "", "A", "B", "ab", "in", "out", "true"]),
                     st.text(max_size=6))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_sdf3_reads_and_analyses_or_gives_a_spikeforge_error(data):
    import re

    text = GOOD
    for _ in range(data.draw(st.integers(1, 3))):
        matches = list(re.finditer(_ATTRIBUTE, text))
        kind = data.draw(st.sampled_from(["value", "value", "cut", "element"]))
        if kind == "value":
            m = data.draw(st.sampled_from(matches))
            value = data.draw(_NUMBERS).replace('"', "").replace("<", "").replace("&", "")
            text = text[:m.start(2)] + value + text[m.end(2):]
        elif kind == "cut":
            at = data.draw(st.integers(0, len(text) - 1))
            text = text[:at] + text[at + data.draw(st.integers(1, 20)):]
        else:
            elements = list(re.finditer(r"<(channel|port|actorProperties|channelProperties|tokenSize)[^>]*/>", text))
            m = data.draw(st.sampled_from(elements))
            text = text[:m.start()] + (m.group(0) * 2 if data.draw(st.booleans()) else "") + text[m.end():]
    with watchdog(30, "reading and analysing a mutated graph"):
        try:
            g = read_sdf3(text)
            throughput(g)
            throughput(g, exact=True)
            latency(g)
            buffer_tradeoff(g, max_steps=3)
        except SpikeforgeError as exc:
            assert "\n" not in str(exc)


# --------------------------------------------------------------------------------------------
# artifacts


def _artifact_doc(hw) -> dict:
    cluster = {"id": 0, "layer": "fc", "crossbar": 0, "core": 0, "chip": 0, "x": 0, "y": 0,
               "columns": 4, "rows": 4}
    return {
        "format": "spikeforge.artifact", "version": 1, "name": "tiny",
        "hardware": {"name": hw.name, "chips": hw.chips, "spec_toml": hardware_to_toml(hw)},
        "timesteps": 4,
        "network": {"name": "tiny", "kind": "snn", "neurons": 8, "synapses": 32,
                    "layers": [{"name": "x", "type": "Input", "shape": [4], "neurons": 0, "synapses": 0},
                               {"name": "fc", "type": "Linear", "shape": [8], "neurons": 0, "synapses": 32},
                               {"name": "n", "type": "IF", "shape": [8], "neurons": 8, "synapses": 0}]},
        "options": {"partitioner": "tiles", "timesteps": 4, "chips": None},
        "mapping": {"partitioner": "tiles", "placer": "fill", "binding": "placement",
                    "clusters": [cluster, {**cluster, "id": 1, "crossbar": 1, "core": 1, "x": 1}]},
        "schedule": {"binding": {"c0": 0, "c1": 1}, "orders": {"0": ["c0"], "1": ["c1"]},
                     "period_ns": 10.0, "critical": ["c0"]},
        "figures": {"accuracy": 0.5, "guarantee": {"timesteps": 4, "period_ns": 10.0}},
        "files": ["artifact.json", "arrays.npz", "snn", "graph.xml", "application.xml"],
    }


@pytest.fixture(scope="module")
def artifact_parts(tmp_path_factory):
    """The files of a tiny artifact (two clusters on xbar-mesh), built by hand."""
    folder = tmp_path_factory.mktemp("parts")
    net = ir.Network((ir.Input("x", (), (4,)), ir.Linear("fc", ("x",), np.ones((8, 4), np.float32)),
                      ir.IF("n", ("fc",), threshold=np.float32(1))), outputs=("n",))
    save_network(net, folder / "snn")
    app = DataflowGraph((Actor("c0", 10.0, "xbar0"), Actor("c1", 5.0, "xbar1")),
                        (Channel("self[c0]", "c0", "c0", 1, 1, 1), Channel("self[c1]", "c1", "c1", 1, 1, 1),
                         Channel("s0_1", "c0", "c1", 1, 1, 0, 3), Channel("b0_1", "c1", "c0", 1, 1, 2)),
                        "tiny", {"xbar0": ("c0",), "xbar1": ("c1",)})
    (folder / "application.xml").write_text(to_sdf3_string(app))
    (folder / "graph.xml").write_text(to_sdf3_string(app))
    np.savez(folder / "arrays.npz", cluster_crossbar=np.array([0, 1]), cluster_core=np.array([0, 1]),
             cluster_layer=np.array([0, 0]), execution_ns=np.array([10.0, 5.0]),
             traffic_row=np.array([0]), traffic_col=np.array([1]), traffic_spikes=np.array([3.0]))
    return folder


def _artifact(parts: Path, folder: Path, doc: dict) -> Path:
    import shutil

    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(parts, folder)
    (folder / "artifact.json").write_text(json.dumps(doc))
    return folder


def test_the_tiny_artifact_loads(artifact_parts, tmp_path):
    a = load_artifact(_artifact(artifact_parts, tmp_path / "app", _artifact_doc(load_hardware("xbar-mesh"))))
    assert a.name == "tiny" and a.timesteps == 4 and len(a.application.actors) == 2
    a.design()


def _set(doc, path, value):
    *head, last = path
    for key in head:
        doc = doc[key]
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


_DELETE = object()


@pytest.mark.parametrize("path, value, match", [
    (("network",), _DELETE, r"artifact\.json: network: missing"),
    (("network",), [], r"artifact\.json: network = <list>: must be an object"),
    (("network", "neurons"), "8", r'network\.neurons = "8": must be an integer'),
    (("network", "neurons"), True, r"network\.neurons = true: must be an integer"),
    (("network", "layers", 1, "shape"), [8.0], r"network\.layers\[1\]\.shape\[0\] = 8\.0: must be an integer"),
    (("network", "layers", 0), "x", r'network\.layers\[0\] = "x": must be an object'),
    (("hardware", "chips"), "1", r'hardware\.chips = "1": must be an integer'),
    (("hardware", "name"), None, r"hardware\.name = null: must be a string"),
    (("mapping", "placer"), 3, r"mapping\.placer = 3: must be a string"),
    (("mapping", "clusters", 1, "core"), "7", r'mapping\.clusters\[1\]\.core = "7": must be an integer'),
    (("mapping", "clusters", 0, "layer"), 5, r"mapping\.clusters\[0\]\.layer = 5: must be a string or null"),
    (("mapping", "clusters", 0, "chip"), _DELETE, r"mapping\.clusters\[0\]\.chip: missing"),
    (("schedule", "binding", "c1"), 1.0, r"schedule\.binding\.c1 = 1\.0: must be an integer"),
    (("schedule", "orders", "0"), "c0", r'schedule\.orders\.0 = "c0": must be a list'),
    (("schedule", "orders", "1"), [1], r"schedule\.orders\.1\[0\] = 1: must be a string"),
    (("options",), "tiles", r'options = "tiles": must be an object'),
    (("figures",), _DELETE, r"figures: missing"),
    (("figures",), [1], r"figures = <list>: must be an object"),
    (("files",), {"a": 1}, r"files = <object>: must be a list"),
    (("files", 0), 1, r"files\[0\] = 1: must be a string"),
    (("name",), 5, r"name = 5: must be a non-empty string"),
    (("timesteps",), "4", r"timesteps '4': must be an integer"),
    (("schedule", "period_ns"), "10", r"schedule\.period_ns = '10': must be a finite number"),
])
def test_artifact_fields_of_the_wrong_type_name_the_field(artifact_parts, tmp_path, path, value, match):
    doc = _artifact_doc(load_hardware("xbar-mesh"))
    _set(doc, path, value)
    with pytest.raises(ModelFileError, match=match):
        load_artifact(_artifact(artifact_parts, tmp_path / "app", doc))


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.integers(2**62, 2**70),
                               st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6)),
                     lambda inner: st.one_of(st.lists(inner, max_size=3),
                                             st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                     max_leaves=6)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_artifact_json_loads_or_gives_a_model_file_error(artifact_parts, tmp_path, data):
    doc = _artifact_doc(load_hardware("xbar-mesh"))
    for _ in range(data.draw(st.integers(1, 2))):
        paths = [p for p in _paths(doc) if p and p[0] not in ("format", "version")]
        path = data.draw(st.sampled_from(paths))
        _set(doc, path, _DELETE if data.draw(st.integers(0, 4)) == 0 else data.draw(_JSON))
    folder = _artifact(artifact_parts, tmp_path / "app", doc)
    with watchdog(30, "loading a mutated artifact"):
        try:
            a = load_artifact(folder)
            a.design()
        except SpikeforgeError as exc:
            assert "\n" not in str(exc)
