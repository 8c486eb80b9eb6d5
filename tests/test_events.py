"""Event-camera input (issue 21, part 3): the N-MNIST reader, event arrays, binning to frames."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge import resources
from spikeforge.cli import main
from spikeforge.errors import InputPathError, InvalidDataError, ResourceError
from spikeforge.events import (
    EVENT_DTYPE,
    MAX_NMNIST_BYTES,
    TIMESTAMP_WRAP_US,
    bin_events,
    events_from_array,
    read_nmnist,
    stack_frames,
    summarize_events,
)


def pack_nmnist(t, x, y, p) -> bytes:
    """Events in the N-MNIST binary format, packed bit by bit: x, y, then p in bit 7 of the
    third byte and the 23-bit timestamp, most significant first."""
    t, x, y, p = (np.asarray(a, dtype=np.int64) for a in (t, x, y, p))
    raw = np.empty((len(t), 5), np.uint8)
    raw[:, 0] = x
    raw[:, 1] = y
    raw[:, 2] = (p << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    return raw.tobytes()


def make_events(t, x, y, p) -> np.ndarray:
    events = np.empty(len(t), EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t, x, y, p
    return events


def write(tmp_path, data: bytes, name="rec.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- the N-MNIST reader ----------------------------------------------------------------------


def test_known_events_read_back(tmp_path):
    t = [0, 1, 255, 256, 65535, 65536, TIMESTAMP_WRAP_US - 1]
    x = [0, 33, 5, 17, 0, 33, 2]
    y = [0, 0, 33, 9, 33, 33, 31]
    p = [0, 1, 1, 0, 1, 0, 1]
    events = read_nmnist(write(tmp_path, pack_nmnist(t, x, y, p)))
    assert events.dtype == EVENT_DTYPE
    for name, values in zip("txyp", (t, x, y, p), strict=True):
        assert events[name].tolist() == values


def test_bit_layout_by_hand(tmp_path):
    # x = 7, y = 3, ON, t = 0x12345: bytes 07 03 (80 | 01) 23 45
    events = read_nmnist(write(tmp_path, bytes([0x07, 0x03, 0x81, 0x23, 0x45])))
    assert events.tolist() == [(0x12345, 7, 3, 1)]
    events = read_nmnist(write(tmp_path, bytes([0x01, 0x02, 0x7F, 0xFF, 0xFF])))
    assert events.tolist() == [(TIMESTAMP_WRAP_US - 1, 1, 2, 0)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, TIMESTAMP_WRAP_US - 1), st.integers(0, 33), st.integers(0, 33),
                          st.integers(0, 1)), min_size=1, max_size=60))
def test_round_trip(tmp_path_factory, rows):
    rows.sort()  # recorded in time order: no wrap is read into it
    t, x, y, p = zip(*rows, strict=True)
    path = write(tmp_path_factory.mktemp("nmnist"), pack_nmnist(t, x, y, p))
    assert read_nmnist(path).tolist() == [tuple(r) for r in rows]


def test_a_wrap_of_the_23_bit_counter_is_unwrapped(tmp_path):
    t = [TIMESTAMP_WRAP_US - 10, TIMESTAMP_WRAP_US - 1, 5, 100, TIMESTAMP_WRAP_US - 3, 7]
    events = read_nmnist(write(tmp_path, pack_nmnist(t, [1] * 6, [1] * 6, [0] * 6)))
    w = TIMESTAMP_WRAP_US
    assert events["t"].tolist() == [w - 10, w - 1, w + 5, w + 100, 2 * w - 3, 2 * w + 7]


def test_small_steps_backwards_are_kept_in_file_order(tmp_path):
    t = [100, 90, 4_000_000]  # 10 µs back: not a wrap (less than 2**22 µs)
    events = read_nmnist(write(tmp_path, pack_nmnist(t, [0] * 3, [0] * 3, [1] * 3)))
    assert events["t"].tolist() == t
    assert summarize_events(events).t_backwards == 1


def test_a_larger_sensor_can_be_declared(tmp_path):
    path = write(tmp_path, pack_nmnist([0, 5], [200, 239], [100, 179], [0, 1]))
    with pytest.raises(InvalidDataError, match=r"2 of 2 events outside the 34×34 sensor \(x up to 239, y up to 179\)"):
        read_nmnist(path)
    assert read_nmnist(path, sensor=(180, 240))["x"].tolist() == [200, 239]


@pytest.mark.parametrize("data, message", [
    (b"", r"empty \(0 bytes, no events\)$"),
    (b"\x00" * 7, r"7 bytes is not a whole number of 5-byte events \(1 events and 2 bytes over\): truncated"),
    (pack_nmnist([1, 2], [3, 4], [5, 6], [0, 1])[:-1],
     r"9 bytes is not a whole number of 5-byte events \(1 events and 4 bytes over\)"),
    (pack_nmnist([1, 2, 3], [3, 34, 4], [5, 6, 7], [0, 1, 1]),
     r"1 of 3 events outside the 34×34 sensor \(x up to 34, y up to 7\)"),
    (pack_nmnist([1, 2], [3, 4], [240, 6], [0, 1]), r"1 of 2 events outside the 34×34 sensor \(x up to 4, y up to 240\)"),
])
def test_hostile_files(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(InvalidDataError, match=message) as info:
        read_nmnist(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_huge_missing_and_folder_paths_are_refused(tmp_path):
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as f:
        f.truncate(MAX_NMNIST_BYTES + 5)  # sparse: nothing is written
    with pytest.raises(InputPathError, match=r"huge.bin: 1.0 GiB, more than the 1.0 GiB such a file can be"):
        read_nmnist(huge)
    with pytest.raises(InputPathError, match=r"nothing.bin: no such file"):
        read_nmnist(tmp_path / "nothing.bin")
    with pytest.raises(InputPathError, match=r"is a folder, not a file"):
        read_nmnist(tmp_path)


def test_devices_and_fifos_are_refused(tmp_path):
    fifo = tmp_path / "fifo.bin"
    os.mkfifo(fifo)
    with pytest.raises(InputPathError, match=r"fifo.bin: not a regular file \(a device, FIFO or socket\)"):
        read_nmnist(fifo)
    (tmp_path / "zero.bin").symlink_to("/dev/zero")
    with pytest.raises(InputPathError, match=r"zero.bin: not a regular file"):
        read_nmnist(tmp_path / "zero.bin")


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 300), st.integers(1, 300))
def test_any_bytes_read_as_events_or_one_line_refusal(tmp_path_factory, data, height, width):
    path = write(tmp_path_factory.mktemp("fuzz"), data)
    try:
        events = read_nmnist(path, sensor=(height, width))
    except InvalidDataError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert len(events) == len(data) // 5 and len(data) % 5 == 0
    assert (events["x"] < width).all() and (events["y"] < height).all()
    assert set(events["p"].tolist()) <= {0, 1} and (events["t"] >= 0).all()


def test_memory_is_checked_before_reading(tmp_path, monkeypatch):
    path = write(tmp_path, pack_nmnist(range(1000), [1] * 1000, [1] * 1000, [0] * 1000))
    monkeypatch.setattr(resources, "available_memory", lambda: 10_000)
    with pytest.raises(ResourceError, match=r"N-MNIST file .*rec.bin \(1,000 events\): needs 46.9 KiB of memory"):
        read_nmnist(path)


@pytest.mark.parametrize("sensor, message", [((0, 34), r"sensor height 0: must be ≥ 1"),
                                             ((34, 40000), r"sensor width 40000: at most 32768")])
def test_sensor_is_checked(tmp_path, sensor, message):
    with pytest.raises((InvalidDataError, ResourceError), match=message):
        read_nmnist(write(tmp_path, pack_nmnist([0], [0], [0], [0])), sensor=sensor)


#: Reads an N-MNIST file with tonic's own reader, loaded from its file alone (tonic is GPL-3.0: a
#: test-only reference in the peers' venv, installed with --no-deps, never imported by spikeforge).
TONIC_SCRIPT = """
import importlib.util, json, sys
import numpy as np
package = importlib.util.find_spec("tonic")
spec = importlib.util.spec_from_file_location("tonic_io", package.submodule_search_locations[0] + "/io.py")
io = importlib.util.module_from_spec(spec)
spec.loader.exec_module(io)
events = io.read_mnist_file(sys.argv[1], dtype=io.events_struct)
print(json.dumps([events[name].astype(np.int64).tolist() for name in "txyp"]))
"""


def tonic_python() -> str:
    python = os.environ.get("SPIKEFORGE_TONIC_PYTHON", str(Path(__file__).resolve().parents[1] / ".venv-bench" / "bin" / "python"))
    if not Path(python).is_file():
        pytest.skip(f"no peers' interpreter at {python} (make bench-peers, or set SPIKEFORGE_TONIC_PYTHON)")
    probe = subprocess.run([python, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('tonic') is None)"],
                           capture_output=True, text=True, check=False)
    if probe.returncode:
        pytest.skip(f"{python} has no tonic (pip install --no-deps tonic==1.7.0 there)")
    return python


def test_tonic_reads_the_same_events(tmp_path):
    python = tonic_python()
    rng = np.random.default_rng(1)
    n = 3000
    t = np.sort(rng.integers(0, TIMESTAMP_WRAP_US, n))
    path = write(tmp_path, pack_nmnist(t, rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n)))
    (tmp_path / "read_with_tonic.py").write_text(TONIC_SCRIPT)
    run = subprocess.run([python, str(tmp_path / "read_with_tonic.py"), str(path)], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    theirs = json.loads(run.stdout.strip().splitlines()[-1])
    ours = read_nmnist(path)
    assert [ours[name].tolist() for name in "txyp"] == theirs


# -- event arrays ----------------------------------------------------------------------------


def test_structured_arrays_in_any_field_order_and_dtype():
    arr = np.zeros(3, dtype=[("p", bool), ("label", np.int32), ("y", np.uint8), ("x", np.uint16), ("t", np.uint32)])
    arr["t"], arr["x"], arr["y"], arr["p"] = [5, 6, 7], [1, 2, 3], [4, 5, 6], [True, False, True]
    events = events_from_array(arr)
    assert events.dtype == EVENT_DTYPE
    assert events.tolist() == [(5, 1, 4, 1), (6, 2, 5, 0), (7, 3, 6, 1)]


def test_plain_arrays_with_a_column_order():
    arr = np.array([[1, 4, 50, 1], [2, 5, 60, 0]], dtype=np.float64)
    events = events_from_array(arr, columns="xytp")
    assert events.tolist() == [(50, 1, 4, 1), (60, 2, 5, 0)]
    assert events_from_array(arr, columns=("x", "y", "t", "p")).tolist() == events.tolist()


def test_an_empty_array_is_valid():
    assert len(events_from_array(np.zeros((0, 4), np.int64), columns="txyp")) == 0


@pytest.mark.parametrize("arr, columns, message", [
    (np.zeros(2, dtype=[("t", int), ("x", int), ("y", int)]), None, r"^events: no field 'p' \(the array has t, x, y; "),
    (np.zeros(2, dtype=[("x", int), ("y", int), ("p", int)]), None, r"^events: no field 't' "),
    (np.zeros((2, 2), dtype=EVENT_DTYPE), None, r"a structured array of shape \(2, 2\), expected one dimension"),
    (np.zeros(2, dtype=EVENT_DTYPE), "txyp", r"columns= orders a plain \(N, 4\) array"),
    (np.zeros((2, 4)), None, r"a plain array of shape \(2, 4\) needs columns="),
    (np.zeros((2, 3)), "txy", r"columns \('t', 'x', 'y'\): must name t, x, y and p once each"),
    (np.zeros((2, 4)), "txxp", r"columns \('t', 'x', 'x', 'p'\): must name"),
    (np.zeros((2, 5)), "txyp", r"a plain array of shape \(2, 5\), expected \(N, 4\)"),
    (np.array([[0.5, 1, 1, 1]]), "txyp", r"t holds 1 values that are not whole numbers within int64 \(first 0.5\)"),
    (np.array([[np.nan, 1, 1, 1]]), "txyp", r"t holds 1 NaN or Inf values"),
    (np.array([[1e19, 1, 1, 1]]), "txyp", r"t holds 1 values that are not whole numbers within int64"),
    (np.array([[0, 1, 1, -1], [1, 1, 1, 1]]), "txyp", r"1 of 2 values of p outside \[0, 1\] .* \(map OFF = -1 to 0\)"),
    (np.array([[0, -3, 1, 1]]), "txyp", r"1 of 1 values of x outside \[0, 32767\] \(from -3 to -3\)"),
    (np.array([[0, 1, 40000, 1]]), "txyp", r"1 of 1 values of y outside \[0, 32767\]"),
    (np.array([["a", "b", "c", "d"]]), "txyp", r"events: t has dtype <U1, expected integers"),
    (np.array([2**63 + 5], dtype=np.uint64).repeat(4).reshape(1, 4), "txyp", r"t holds values above"),
    (np.zeros(2, dtype=[("t", int, (3,)), ("x", int), ("y", int), ("p", int)]), None,
     r"events: t holds \(3,\) values per event, expected one number"),
    (np.zeros(2, dtype=[("t", object), ("x", int), ("y", int), ("p", int)]), None, r"t has dtype object"),
])
def test_bad_arrays(arr, columns, message):
    with pytest.raises(InvalidDataError, match=message) as info:
        events_from_array(arr, columns=columns)
    assert "\n" not in str(info.value)


# -- binning ---------------------------------------------------------------------------------

H, W = 5, 7
event_rows = st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, W - 1), st.integers(0, H - 1),
                                st.integers(0, 1)), min_size=1, max_size=80)


def as_events(rows) -> np.ndarray:
    return make_events(*zip(*rows, strict=True))


def expected_counts(events, timesteps, window_of) -> np.ndarray:
    """The oracle: each event's window found by scanning the windows' bounds (``window_of(k)``
    gives [start, end) offsets from t₀ as exact integer tests), not by division."""
    counts = np.zeros((timesteps, 2, H, W))
    t0 = int(events["t"].min())
    for t, x, y, p in events.tolist():
        hits = [k for k in range(timesteps) if window_of(k, t - t0)]
        assert len(hits) <= 1
        if hits:
            counts[hits[0], p, y, x] += 1
    return counts


@settings(max_examples=60, deadline=None)
@given(event_rows, st.integers(1, 12))
def test_equal_windows(rows, timesteps):
    events = as_events(rows)
    frames = bin_events(events, sensor=(H, W), timesteps=timesteps)
    assert frames.shape == (timesteps, 2, H, W) and frames.dtype == np.float32
    assert frames.sum() == len(events)  # count mode keeps every event
    span = int(events["t"].max() - events["t"].min()) + 1
    # window k holds t₀ + k·D/T ≤ t < t₀ + (k+1)·D/T, i.e. k·D ≤ (t − t₀)·T < (k+1)·D
    oracle = expected_counts(events, timesteps, lambda k, dt: k * span <= dt * timesteps < (k + 1) * span)
    np.testing.assert_array_equal(frames, oracle)
    binary = bin_events(events, sensor=(H, W), timesteps=timesteps, mode="binary")
    assert set(np.unique(binary)) <= {0.0, 1.0}
    assert (binary <= frames).all()
    np.testing.assert_array_equal(binary, (frames > 0).astype(np.float32))


@st.composite
def scaled_windows(draw):
    """Events and a window of a common time scale (1 µs to 0.1 s), at most 51 windows long."""
    scale = draw(st.sampled_from([1, 7, 1000, 100_000]))
    rows = draw(st.lists(st.tuples(st.integers(0, 50 * scale), st.integers(0, W - 1), st.integers(0, H - 1),
                                   st.integers(0, 1)), min_size=1, max_size=80))
    return rows, draw(st.integers(scale, 60 * scale))


@settings(max_examples=60, deadline=None)
@given(scaled_windows(), st.none() | st.integers(1, 6))
def test_fixed_windows(rows_and_window, timesteps):
    rows, bin_us = rows_and_window
    events = as_events(rows)
    frames = bin_events(events, sensor=(H, W), bin_us=bin_us, timesteps=timesteps)
    t0, t1 = int(events["t"].min()), int(events["t"].max())
    T = (t1 - t0) // bin_us + 1 if timesteps is None else timesteps
    assert frames.shape == (T, 2, H, W)
    inside = int(((events["t"] - t0) < T * bin_us).sum())
    assert frames.sum() == inside  # every event inside the T windows, and only those
    if timesteps is None:
        assert inside == len(events)
    oracle = expected_counts(events, T, lambda k, dt: k * bin_us <= dt < (k + 1) * bin_us)
    np.testing.assert_array_equal(frames, oracle)
    binary = bin_events(events, sensor=(H, W), bin_us=bin_us, timesteps=timesteps, mode="binary")
    assert set(np.unique(binary)) <= {0.0, 1.0} and (binary <= frames).all()


@settings(max_examples=30, deadline=None)
@given(event_rows, st.integers(1, 8))
def test_one_polarity_channel_sums_both(rows, timesteps):
    events = as_events(rows)
    one = bin_events(events, sensor=(H, W), timesteps=timesteps, polarities=1)
    two = bin_events(events, sensor=(H, W), timesteps=timesteps)
    np.testing.assert_array_equal(one[:, 0], two.sum(axis=1))


def test_a_structured_array_of_other_dtypes_bins_the_same():
    events = make_events([0, 10, 20], [1, 2, 3], [0, 1, 2], [1, 0, 1])
    other = np.zeros(3, dtype=[("x", np.uint8), ("y", np.int32), ("p", bool), ("t", np.float64)])
    for name in "txyp":
        other[name] = events[name]
    np.testing.assert_array_equal(bin_events(other, sensor=(3, 4), timesteps=3),
                                  bin_events(events, sensor=(3, 4), timesteps=3))


def test_no_events():
    empty = np.zeros(0, EVENT_DTYPE)
    frames = bin_events(empty, sensor=(2, 3), timesteps=4, mode="binary")
    assert frames.shape == (4, 2, 2, 3) and not frames.any()
    with pytest.raises(InvalidDataError, match=r"^bin_events: no events, so no duration to cut into 1000 µs windows"):
        bin_events(empty, sensor=(2, 3), bin_us=1000)


@pytest.mark.parametrize("kwargs, message", [
    ({"sensor": (4, 4)}, r"^bin_events: give timesteps= \(equal windows over the recording\), bin_us="),
    ({"sensor": (4, 4), "timesteps": 0}, r"^bin_events: timesteps 0: must be ≥ 1$"),
    ({"sensor": (4, 4), "bin_us": -5}, r"^bin_events: bin_us -5: must be ≥ 1$"),
    ({"sensor": (2, 4), "timesteps": 2}, r"^bin_events: 1 of 2 events outside the 2×4 sensor \(x up to 3, y up to 3\)$"),
    ({"sensor": (0, 4), "timesteps": 2}, r"^bin_events: sensor height 0: must be ≥ 1$"),
])
def test_bad_binning_requests(kwargs, message):
    events = make_events([0, 5], [3, 1], [3, 1], [0, 1])
    with pytest.raises(InvalidDataError, match=message):
        bin_events(events, **kwargs)


def test_plain_arrays_are_refused_by_the_binner():
    with pytest.raises(InvalidDataError, match=r"events of dtype int64, expected a structured array .*events_from_array"):
        bin_events(np.zeros((2, 4), np.int64), sensor=(4, 4), timesteps=2)


def test_frames_too_large_are_refused_before_allocating():
    events = make_events([0, 10**9], [0, 0], [0, 0], [0, 1])
    with pytest.raises(ResourceError, match=r"^bin_events: frames 1000000001×2×34×34: needs .* of memory"):
        bin_events(events, sensor=(34, 34), bin_us=1)


def test_a_span_too_long_for_exact_binning_is_refused():
    events = make_events([-(2**62), 2**62], [0, 0], [0, 0], [0, 1])
    with pytest.raises(InvalidDataError, match=r"in 4 windows: too long to bin exactly in int64"):
        bin_events(events, sensor=(1, 1), timesteps=4)


# -- batches -----------------------------------------------------------------------------------


def test_stack_frames_makes_a_temporal_batch(tmp_path):
    recordings = [pack_nmnist([0, 10, 300_000], [1, 2, 33], [0, 33, 5], [1, 0, 1]),
                  pack_nmnist([7, 9], [0, 0], [0, 1], [0, 0])]
    frames = [bin_events(read_nmnist(write(tmp_path, data, f"{i}.bin")), sensor=(34, 34), timesteps=6,
                         mode="binary") for i, data in enumerate(recordings)]
    batch = stack_frames(frames)
    assert batch.shape == (2, 6, 2, 34, 34) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[1], frames[1])
    assert batch[0].sum() == 3 and batch[1].sum() == 2


@pytest.mark.parametrize("frames, message", [
    ([], r"^stack_frames: no frames to stack$"),
    ([np.zeros((4, 2, 3, 3)), np.zeros((5, 2, 3, 3))],
     r"^stack_frames: item 1 has shape \(5, 2, 3, 3\), item 0 \(4, 2, 3, 3\): bin every recording with the same"),
    ([np.zeros((2, 3, 3))], r"^stack_frames: item 0 is ndarray of shape \(2, 3, 3\), expected frames \(T, P, H, W\)$"),
])
def test_bad_batches(frames, message):
    with pytest.raises(InvalidDataError, match=message):
        stack_frames(frames)


def test_batch_memory_is_checked(monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda: 500)
    with pytest.raises(ResourceError, match=r"^stack_frames: 2 × \(4, 2, 3, 3\): needs 576 B of memory"):
        stack_frames([np.zeros((4, 2, 3, 3))] * 2)


# -- into a spiking network --------------------------------------------------------------------


def _temporal_input_exists() -> bool:
    from spikeforge.ir import network as ir

    return "temporal" in {f.name for f in dataclasses.fields(ir.Input)}


@pytest.mark.skipif(not _temporal_input_exists(), reason="ir.Input(temporal=True) has not landed yet (issue 21, part 3)")
def test_binned_frames_drive_a_temporal_snn(tmp_path):
    from spikeforge.ir import network as ir
    from spikeforge.sim.simulator import simulate

    rng = np.random.default_rng(0)
    size, T = 6, 5
    data = []
    for i in range(3):
        n = int(rng.integers(5, 40))
        t = np.sort(rng.integers(0, 50_000, n))
        data.append(pack_nmnist(t, rng.integers(0, size, n), rng.integers(0, size, n), rng.integers(0, 2, n)))
    frames = stack_frames([bin_events(read_nmnist(write(tmp_path, d, f"{i}.bin"), sensor=(size, size)),
                                      sensor=(size, size), timesteps=T, mode="binary") for i, d in enumerate(data)])
    cells = 2 * size * size
    # one IF neuron per input pixel and polarity, threshold 1: it spikes exactly at the input's spikes
    net = ir.Network((ir.Input("x", (), (2, size, size), temporal=True), ir.Flatten("flat", ("x",)),
                      ir.Linear("fc", ("flat",), np.eye(cells, dtype=np.float32)),
                      ir.IF("if", ("fc",), threshold=np.float32(1.0))), ("if",))
    result = simulate(net, frames, timesteps=T, checkpoints=list(range(1, T + 1)))
    counts = result.profile.layer("if").spike_counts
    np.testing.assert_array_equal(np.asarray(counts).reshape(-1), frames.sum(axis=(0, 1)).reshape(-1))
    for t in range(1, T + 1):  # the read-out at t: the mean input over the first t steps
        np.testing.assert_allclose(result.outputs[t], frames[:, :t].mean(axis=1).reshape(len(frames), -1), atol=1e-6)


# -- the command -------------------------------------------------------------------------------


def test_events_info(tmp_path, capsys):
    path = write(tmp_path, pack_nmnist([1000, 2500, 301_000], [3, 30, 9], [4, 5, 33], [1, 0, 1]))
    assert main(["events", "info", str(path)]) == 0
    out = capsys.readouterr().out
    for text in ("3", "2 / 1", "1,000 / 301,000 µs", "300.000 ms", "3 … 30 (28 px)", "4 … 33 (30 px)"):
        assert text in out, text
    assert main(["events", "info", str(path), "--sensor", "20", "40"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 of 3 events outside the 20×40 sensor" in err


def test_events_info_on_a_bad_file(tmp_path, capsys):
    assert main(["events", "info", str(write(tmp_path, b"\x01\x02"))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 bytes is not a whole number of 5-byte events" in err
    assert os.path.exists(tmp_path / "rec.bin")


@pytest.fixture
def nmnist_folder(tmp_path):
    """Recordings in N-MNIST's layout: a folder per class."""
    root = tmp_path / "Test"
    for label, name, t in ((0, "00001", [0, 1000, 90_000]), (3, "00002", [5, 6]), (3, "00007", [100, 200_000])):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        n = len(t)
        write(root / str(label), pack_nmnist(t, range(n), range(1, n + 1), [i % 2 for i in range(n)]), f"{name}.bin")
    return root


def test_events_frames_writes_temporal_input_data(nmnist_folder, tmp_path, capsys):
    from spikeforge.datasets import load_data

    out = tmp_path / "frames.npz"
    assert main(["events", "frames", str(nmnist_folder), "-T", "4", "-o", str(out), "--labels-from-folders"]) == 0
    assert "3 recordings, 7 events -> x (3, 4, 2, 34, 34)" in capsys.readouterr().out
    data = load_data(out)
    assert data.x.shape == (3, 4, 2, 34, 34) and data.y.tolist() == [0, 3, 3]
    files = sorted(nmnist_folder.rglob("*.bin"))
    expected = stack_frames([bin_events(read_nmnist(f), sensor=(34, 34), timesteps=4, mode="binary") for f in files])
    np.testing.assert_array_equal(data.x, expected)
    # one file, counts, fixed windows of 50 ms: T given, so recordings of any length stack
    assert main(["events", "frames", str(files[0]), str(files[2]), "-T", "3", "--bin-us", "50000",
                 "--mode", "count", "-o", str(out)]) == 0
    data = load_data(out)
    assert data.y is None and data.x.shape == (2, 3, 2, 34, 34)
    assert data.x[0].sum() == 3 and data.x[1].sum() == 1  # t = 200,000 lies past t₀ + 3 × 50 ms


@pytest.mark.parametrize("argv, message", [
    (["-o", "{tmp}/x.npz"], r"bin_events: give timesteps="),
    (["--bin-us", "1000", "-o", "{tmp}/x.npz"], r"stack_frames: item 1 has shape \(1, 2, 34, 34\), item 0 \(91, "),
    (["-T", "2", "-o", "{tmp}/Test/x.npz"], r"output .*x.npz: .*(inside|input)"),
])
def test_events_frames_refusals(nmnist_folder, tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["events", "frames", str(nmnist_folder), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
    assert not (tmp_path / "x.npz").exists() and not (nmnist_folder / "x.npz").exists()


def test_events_frames_labels_and_folders(nmnist_folder, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["events", "frames", str(tmp_path / "empty"), "-T", "2", "-o", str(tmp_path / "x.npz")]) == 2
    assert "a folder with no .bin recordings below it" in capsys.readouterr().err
    odd = tmp_path / "odd"
    odd.mkdir()
    write(odd, pack_nmnist([0], [0], [0], [0]), "a.bin")
    assert main(["events", "frames", str(odd), "-T", "2", "-o", str(tmp_path / "x.npz"), "--labels-from-folders"]) == 2
    assert "its folder 'odd' is not a class number" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


NIR_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nir"


@pytest.mark.skipif(not (NIR_DATA / "cnn_sinabs.nir").is_file(),
                    reason="the NIR paper's N-MNIST CNN (shared/data/nir/cnn_sinabs.nir) is not here")
def test_nmnist_recordings_through_the_nir_paper_cnn(nmnist_folder, tmp_path, capsys):
    """Recordings in N-MNIST's layout -> ``events frames`` -> the sinabs N-MNIST CNN of the NIR paper
    (2 × 34 × 34 temporal input), imported and simulated from the command line, as the API does."""
    pytest.importorskip("nir")
    from spikeforge.datasets import load_data
    from spikeforge.frontends.nir import read_nir
    from spikeforge.sim.simulator import simulate

    rng = np.random.default_rng(2)
    for i in range(2):  # denser recordings than the fixture's, so spikes reach the read-out
        t = np.sort(rng.integers(0, 300_000, 3000))
        write(nmnist_folder / "3", pack_nmnist(t, rng.integers(0, 34, 3000), rng.integers(0, 34, 3000),
                                               rng.integers(0, 2, 3000)), f"1000{i}.bin")
    frames, net, report = tmp_path / "frames.npz", tmp_path / "net", tmp_path / "r.json"
    assert main(["events", "frames", str(nmnist_folder), "-T", "8", "--labels-from-folders", "-o", str(frames)]) == 0
    assert main(["import", str(NIR_DATA / "cnn_sinabs.nir"), "-o", str(net)]) == 0
    assert main(["simulate", str(net), "--data", str(frames), "-T", "8", "--json", str(report)]) == 0
    capsys.readouterr()
    result = json.loads(report.read_text())
    data = load_data(frames)
    ours = simulate(read_nir(NIR_DATA / "cnn_sinabs.nir"), data.x, timesteps=8, labels=data.y)
    assert data.x.shape == (5, 8, 2, 34, 34) and result["samples"] == 5
    assert result["spikes_per_sample"] == pytest.approx(ours.profile.spikes_per_sample)
    assert result["spikes_per_sample"] > 0
    assert result["accuracy"]["8"] == pytest.approx(ours.accuracy[8])
