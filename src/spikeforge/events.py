"""Event-camera recordings: the N-MNIST binary format, arrays of ``(t, x, y, p)`` events, and
binning to the frames a spiking network takes as temporal input.

An event camera (DVS, ATIS) reports, per pixel, when the brightness changed: an event is a
timestamp ``t`` (µs), a pixel ``(x, y)`` and a polarity ``p`` (1 = ON, brighter; 0 = OFF).
spikeforge holds a recording as a structured numpy array of :data:`EVENT_DTYPE`
(``t`` int64, ``x`` and ``y`` int16, ``p`` int8), in the order the file gives them.

Binning turns a recording into frames (T, P, H, W) float32, one frame per timestep and one
channel per polarity (channel ``p``); a batch of them, :func:`stack_frames`, is the (N, T, P, H, W)
layout of a temporal input (``ir.Input(..., temporal=True)``: a new value every step).

Examples
--------
>>> events = events_from_array(np.array([[0, 1, 2, 1], [90, 3, 0, 0]]), columns="txyp")
>>> frames = bin_events(events, sensor=(4, 4), timesteps=2)
>>> frames.shape, frames.dtype.name, float(frames.sum())
((2, 2, 4, 4), 'float32', 2.0)
>>> float(frames[0, 1, 2, 1]), float(frames[1, 0, 0, 3])
(1.0, 1.0)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from spikeforge.api import public
from spikeforge.errors import InvalidDataError
from spikeforge.resources import check_count, check_input_file, check_memory

__all__ = [
    "EVENT_DTYPE",
    "NMNIST_SENSOR",
    "EventSummary",
    "bin_events",
    "events_from_array",
    "read_events",
    "read_nmnist",
    "stack_frames",
    "summarize_events",
]

#: One event: timestamp (µs), pixel column ``x``, pixel row ``y``, polarity ``p`` (0 OFF, 1 ON).
EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])
#: The fields every event array must have.
FIELDS = ("t", "x", "y", "p")
#: (H, W) of N-MNIST's recordings: 34 × 34 pixels.
NMNIST_SENSOR = (34, 34)
#: Bytes of one event in the N-MNIST (and N-Caltech101) binary format.
NMNIST_EVENT_BYTES = 5
#: Largest N-MNIST file read (about 215 million events; a real one holds a few thousand).
MAX_NMNIST_BYTES = 1 << 30
#: The N-MNIST timestamp counts µs in 23 bits: it wraps after 2**23 µs (8.39 s).
TIMESTAMP_WRAP_US = 1 << 23
#: Largest pixel coordinate an event holds (``x`` and ``y`` are int16).
MAX_COORDINATE = np.iinfo(np.int16).max
#: Bytes per event a read or a conversion takes at its peak (raw bytes, int64 temporaries, result).
_BYTES_PER_EVENT = 48


@public
def read_nmnist(path: str | os.PathLike, *, sensor: tuple[int, int] = NMNIST_SENSOR) -> np.ndarray:
    """The events of an N-MNIST binary file (Orchard et al. 2015), as an :data:`EVENT_DTYPE` array.

    Each event takes 40 bits, 5 bytes, most significant first::

        byte 0           x                 (8 bits)
        byte 1           y                 (8 bits)
        byte 2, bit 7    p                 (1 = ON, 0 = OFF)
        byte 2 bits 6–0, byte 3, byte 4    t  (23 bits, µs)

    so ``t = (b2 & 0x7F) · 2¹⁶ + b3 · 2⁸ + b4``. The 23-bit counter wraps after 2²³ µs = 8.39 s;
    an N-MNIST recording lasts about 0.3 s and never wraps, but a longer recording in this
    format may: a timestamp that falls by more than half the counter's range (2²² µs) from the
    previous event's is read as a wrap, and 2²³ µs is added to it and to every later event.
    Smaller steps backwards are kept as they are (the events stay in file order; binning does not
    need them sorted).

    ``sensor`` is (H, W), 34 × 34 for N-MNIST; an event outside it is refused (some recorders
    write y = 240 as a timestamp-overflow marker: those are refused too, not guessed at).

    Raises
    ------
    spikeforge.errors.InputPathError
        ``path`` is missing, not a regular file, or larger than :data:`MAX_NMNIST_BYTES`.
    InvalidDataError
        The file is empty, its size is not a whole number of 5-byte events, an event lies outside
        the sensor, or ``sensor`` is not two sizes ≥ 1.
    spikeforge.errors.ResourceError
        The events do not fit in the free memory (checked from the file size, before reading).
    """
    height, width = _sensor(sensor, "read_nmnist")
    file = check_input_file(path, MAX_NMNIST_BYTES, "N-MNIST file")
    size = file.stat().st_size
    where = f"N-MNIST file {file}"
    if size == 0:
        raise InvalidDataError(f"{where}: empty (0 bytes, no events)")
    if size % NMNIST_EVENT_BYTES:
        raise InvalidDataError(f"{where}: {size} bytes is not a whole number of {NMNIST_EVENT_BYTES}-byte "
                               f"events ({size // NMNIST_EVENT_BYTES} events and {size % NMNIST_EVENT_BYTES} "
                               f"bytes over): truncated, or not N-MNIST")
    n = size // NMNIST_EVENT_BYTES
    check_memory(n * _BYTES_PER_EVENT, f"{where} ({n:,} events)")
    with open(file, "rb") as f:
        raw = np.fromfile(f, dtype=np.uint8, count=size)
    if raw.size != size:
        raise InvalidDataError(f"{where}: read {raw.size} of its {size} bytes (the file changed while read)")
    raw = raw.reshape(n, NMNIST_EVENT_BYTES)
    x, y = raw[:, 0], raw[:, 1]
    _check_inside(x, y, (height, width), where, _LARGER)
    t = ((raw[:, 2].astype(np.int64) & 0x7F) << 16) | (raw[:, 3].astype(np.int64) << 8) | raw[:, 4]
    wraps = np.diff(t) < -(TIMESTAMP_WRAP_US // 2)
    if wraps.any():
        t[1:] += TIMESTAMP_WRAP_US * np.cumsum(wraps, dtype=np.int64)
    events = np.empty(n, EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t, x, y, raw[:, 2] >> 7
    return events


#: What a reader's refusal of events outside the sensor adds.
_LARGER = "; pass sensor=(H, W) if the recording is larger"


def _check_inside(x: np.ndarray, y: np.ndarray, sensor: tuple[int, int], where: str, hint: str = "") -> None:
    """Refuse events outside the (H, W) sensor, with their count and extent."""
    height, width = sensor
    outside = (x >= width) | (y >= height)
    if outside.any():
        raise InvalidDataError(f"{where}: {int(outside.sum())} of {len(x)} events outside the {height}×{width} sensor "
                               f"(x up to {int(x.max())}, y up to {int(y.max())}){hint}")


@public
def read_events(path: str | os.PathLike, *, sensor: tuple[int, int] = NMNIST_SENSOR) -> np.ndarray:
    """The events of a recording file, as an :data:`EVENT_DTYPE` array: an ``.npy`` file (told by
    its magic bytes) holding a structured array with fields ``t, x, y, p`` (checked as by
    :func:`events_from_array`; never unpickled), else the N-MNIST binary format
    (:func:`read_nmnist`). Either way, events outside ``sensor`` (H, W) are refused.

    Raises
    ------
    spikeforge.errors.InputPathError
        ``path`` is missing, not a regular file, or larger than :data:`MAX_NMNIST_BYTES`.
    InvalidDataError
        As :func:`read_nmnist`; for an ``.npy`` file: a corrupt or truncated header, Python
        objects, a plain (not structured) array, or events that :func:`events_from_array` refuses.
    spikeforge.errors.ResourceError
        The events do not fit in the free memory (checked before reading).
    """
    from spikeforge.fileio import read_npy

    height, width = _sensor(sensor, "read_events")
    file = check_input_file(path, MAX_NMNIST_BYTES, "events file")
    with open(file, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            return read_nmnist(file, sensor=sensor)
    where = f"events file {file}"
    arr = read_npy(file, "events file", error=InvalidDataError, max_bytes=MAX_NMNIST_BYTES)
    if arr.dtype.names is None:
        raise InvalidDataError(f"{where}: an array of dtype {arr.dtype} and shape {arr.shape}; expected a "
                               f"structured array with fields t, x, y, p")
    try:
        events = events_from_array(arr)
    except InvalidDataError as exc:
        raise InvalidDataError(f"{where}: {str(exc).removeprefix('events: ')}") from None
    _check_inside(events["x"], events["y"], (height, width), where, _LARGER)
    return events


@public
def events_from_array(arr: np.ndarray, *, columns: Sequence[str] | None = None) -> np.ndarray:
    """Events given as an array, checked and returned as a new :data:`EVENT_DTYPE` array.

    ``arr`` is either a structured array with fields ``t``, ``x``, ``y``, ``p`` (in any order,
    with any integer or boolean dtypes, other fields ignored), or a plain (N, 4) array whose
    columns ``columns`` names in order (``"txyp"``, ``("x", "y", "t", "p")``). Float values are
    accepted where they are whole numbers. ``t`` is in µs; ``x`` and ``y`` are pixel
    coordinates ``0 ≤ x, y ≤ 32767``; ``p`` is 0 (OFF) or 1 (ON).

    Raises
    ------
    InvalidDataError
        A missing field; a plain array without ``columns``, not (N, 4), or ``columns`` not the
        four names once each; a field that is not numbers, not whole, or out of range.
    spikeforge.errors.ResourceError
        The converted events do not fit in the free memory.
    """
    if arr.dtype.names is not None:
        if columns is not None:
            raise InvalidDataError("events: columns= orders a plain (N, 4) array; a structured array names its "
                                   "own fields")
        if arr.ndim != 1:
            raise InvalidDataError(f"events: a structured array of shape {arr.shape}, expected one dimension (N,)")
        missing = [name for name in FIELDS if name not in arr.dtype.names]
        if missing:
            raise InvalidDataError(f"events: no field {missing[0]!r} (the array has {', '.join(arr.dtype.names)}; "
                                   f"needs t, x, y, p)")
        fields = {name: arr[name] for name in FIELDS}
    else:
        if columns is None:
            raise InvalidDataError(f"events: a plain array of shape {arr.shape} needs columns=, the order of its "
                                   f"4 columns (e.g. 'txyp')")
        names = tuple(columns)
        if sorted(names) != sorted(FIELDS):
            raise InvalidDataError(f"events: columns {names}: must name t, x, y and p once each")
        if arr.ndim != 2 or arr.shape[1] != len(FIELDS):
            raise InvalidDataError(f"events: a plain array of shape {arr.shape}, expected (N, 4) for columns "
                                   f"{''.join(names)}")
        fields = {name: arr[:, i] for i, name in enumerate(names)}
    n = len(fields["t"])
    check_memory(n * _BYTES_PER_EVENT, f"events ({n:,})")
    values = {name: _whole_numbers(name, column) for name, column in fields.items()}
    for name, low, high in (("x", 0, MAX_COORDINATE), ("y", 0, MAX_COORDINATE), ("p", 0, 1)):
        column = values[name]
        bad = (column < low) | (column > high)
        if bad.any():
            hint = " (map OFF = -1 to 0)" if name == "p" and (column == -1).any() else ""
            raise InvalidDataError(f"events: {int(bad.sum())} of {n} values of {name} outside [{low}, {high}] "
                                   f"(from {int(column.min())} to {int(column.max())}){hint}")
    events = np.empty(n, EVENT_DTYPE)
    for name in FIELDS:
        events[name] = values[name]
    return events


def _whole_numbers(name: str, column: np.ndarray) -> np.ndarray:
    """``column`` as int64, if it holds whole numbers that fit; else a one-line refusal."""
    if column.ndim != 1:
        raise InvalidDataError(f"events: {name} holds {column.shape[1:]} values per event, expected one number")
    kind = column.dtype.kind
    if kind in "biu":
        if kind == "u" and column.dtype.itemsize == 8 and column.size and column.max() > np.iinfo(np.int64).max:
            raise InvalidDataError(f"events: {name} holds values above {np.iinfo(np.int64).max} (uint64)")
        return column.astype(np.int64)
    if kind != "f":
        raise InvalidDataError(f"events: {name} has dtype {column.dtype}, expected integers")
    finite = np.isfinite(column)
    if not finite.all():
        raise InvalidDataError(f"events: {name} holds {int(column.size - finite.sum())} NaN or Inf values")
    # 2**63 is a float exactly; every float below it converts to int64 without overflow.
    bad = (column != np.floor(column)) | (np.abs(column) >= 2.0 ** 63)
    if bad.any():
        raise InvalidDataError(f"events: {name} holds {int(bad.sum())} values that are not whole numbers "
                               f"within int64 (first {float(column[bad][0])!r})")
    return column.astype(np.int64)


def _sensor(sensor: tuple[int, int], where: str) -> tuple[int, int]:
    """``sensor`` as (H, W) ints, each in [1, 32768]."""
    if len(sensor) != 2:
        raise InvalidDataError(f"{where}: sensor {sensor!r}: expected (H, W)")
    return tuple(check_count(size, f"{where}: sensor {name}", high=MAX_COORDINATE + 1, error=InvalidDataError)
                 for name, size in zip(("height", "width"), sensor, strict=True))


@public
def bin_events(events: np.ndarray, *, sensor: tuple[int, int], timesteps: int | None = None,
               bin_us: int | None = None, mode: Literal["count", "binary"] = "count",
               polarities: Literal[1, 2] = 2) -> np.ndarray:
    """Frames (T, P, H, W) float32 of a recording: the events of each time window, per polarity
    channel and pixel.

    Windows (``t₀ = min t``, ``t₁ = max t``, the event times in µs):

    * ``timesteps=T`` alone — T equal windows over the recording ``[t₀, t₁]``: with
      ``D = t₁ − t₀ + 1`` µs, event ``t`` falls in window ``k = ⌊(t − t₀) · T / D⌋``, i.e.
      ``t₀ + k·D/T ≤ t < t₀ + (k+1)·D/T``; the last event lands in window T − 1.
    * ``bin_us=B`` alone — windows of B µs from t₀: ``k = ⌊(t − t₀) / B⌋``, and
      ``T = ⌊(t₁ − t₀) / B⌋ + 1`` windows, as many as the recording needs.
    * both — B-µs windows from t₀, exactly T of them: events from ``t₀ + T·B`` on are left out
      (recordings of different lengths then stack into one batch).

    ``mode="count"``: a frame holds the number of events, so the frames sum to the number of
    events binned. ``mode="binary"``: 1 where a pixel had at least one event in the window, else
    0 — at most one spike per pixel, channel and step, what a binary-spike network takes.
    ``polarities=2``: channel ``p`` (0 OFF, 1 ON); ``polarities=1``: both in one channel.
    ``sensor`` is (H, W): ``x`` indexes W, ``y`` indexes H.

    Raises
    ------
    InvalidDataError
        ``events`` is not a valid structured event array (see :func:`events_from_array`); neither
        ``timesteps`` nor ``bin_us``, or either below 1; an event outside the sensor; no events
        and no ``timesteps`` to size the frames by.
    spikeforge.errors.ResourceError
        The frames do not fit in the free memory (checked before allocating).
    """
    where = "bin_events"
    height, width = _sensor(sensor, where)
    if timesteps is None and bin_us is None:
        raise InvalidDataError(f"{where}: give timesteps= (equal windows over the recording), bin_us= (fixed "
                               f"windows in µs), or both")
    if timesteps is not None:
        timesteps = check_count(timesteps, f"{where}: timesteps", error=InvalidDataError)
    if bin_us is not None:
        bin_us = check_count(bin_us, f"{where}: bin_us", error=InvalidDataError)
    if events.dtype.names is None:
        raise InvalidDataError(f"{where}: events of dtype {events.dtype}, expected a structured array with fields "
                               f"t, x, y, p (convert a plain array with events_from_array(arr, columns=...))")
    ev = events_from_array(events)
    _check_inside(ev["x"], ev["y"], (height, width), where)
    if len(ev) == 0:
        if timesteps is None:
            raise InvalidDataError(f"{where}: no events, so no duration to cut into {bin_us} µs windows; "
                                   f"give timesteps=")
        windows = np.zeros(0, np.int64)
    else:
        t = ev["t"]
        t0, t1 = int(t.min()), int(t.max())
        if bin_us is None:
            span = t1 - t0 + 1
            if span * timesteps >= 2 ** 63:
                raise InvalidDataError(f"{where}: a recording of {span:,} µs in {timesteps:,} windows: "
                                       f"too long to bin exactly in int64")
            windows = ((t - t0) * timesteps) // span
        else:
            windows = (t - t0) // bin_us
            if timesteps is None:
                timesteps = (t1 - t0) // bin_us + 1
    cells = timesteps * polarities * height * width
    check_memory(cells * 13, f"{where}: frames {timesteps}×{polarities}×{height}×{width}")
    keep = windows < timesteps
    polarity = ev["p"][keep].astype(np.int64) if polarities == 2 else 0
    flat = ((windows[keep] * polarities + polarity) * height + ev["y"][keep]) * width + ev["x"][keep]
    counts = np.bincount(flat, minlength=cells).reshape(timesteps, polarities, height, width)
    return (counts > 0).astype(np.float32) if mode == "binary" else counts.astype(np.float32)


@public
def stack_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """The frames of N recordings, each (T, P, H, W), as one batch (N, T, P, H, W) float32: the
    layout of a temporal input (``x[n, t]`` is sample n's input at step t).

    Raises
    ------
    InvalidDataError
        No frames; a frame set that is not 4-D, or whose shape differs from the first one's
        (bin every recording with the same ``timesteps`` and ``sensor``).
    spikeforge.errors.ResourceError
        The batch does not fit in the free memory.
    """
    if len(frames) == 0:
        raise InvalidDataError("stack_frames: no frames to stack")
    first = np.shape(frames[0])
    for i, item in enumerate(frames):
        if not isinstance(item, np.ndarray) or item.ndim != 4:
            raise InvalidDataError(f"stack_frames: item {i} is {type(item).__name__} of shape {np.shape(item)}, "
                                   f"expected frames (T, P, H, W)")
        if item.shape != first:
            raise InvalidDataError(f"stack_frames: item {i} has shape {item.shape}, item 0 {first}: bin every "
                                   f"recording with the same timesteps and sensor")
    check_memory(len(frames) * math.prod(first) * 4, f"stack_frames: {len(frames)} × {first}")
    return np.stack([item.astype(np.float32, copy=False) for item in frames])


@dataclass(frozen=True)
class EventSummary:
    """What a recording holds: ``events`` events (``on`` of polarity 1), timestamps from
    ``t_min`` to ``t_max`` µs (``duration_us = t_max − t_min``), pixels
    ``x_min…x_max`` × ``y_min…y_max``, and ``t_backwards`` steps where a timestamp is below
    the one before it."""

    events: int
    on: int
    t_min: int
    t_max: int
    x_min: int
    x_max: int
    y_min: int
    y_max: int
    t_backwards: int

    @property
    def duration_us(self) -> int:
        return self.t_max - self.t_min

    def rows(self) -> list[tuple[str, str]]:
        """``(figure, value)`` rows of a table."""
        return [
            ("events", f"{self.events:,}"),
            ("ON / OFF", f"{self.on:,} / {self.events - self.on:,}"),
            ("timestamps, min / max", f"{self.t_min:,} / {self.t_max:,} µs"),
            ("duration", f"{self.duration_us / 1000:,.3f} ms"),
            ("x extent", f"{self.x_min} … {self.x_max} ({self.x_max - self.x_min + 1} px)"),
            ("y extent", f"{self.y_min} … {self.y_max} ({self.y_max - self.y_min + 1} px)"),
            ("timestamps going backwards", f"{self.t_backwards:,}"),
        ]


@public
def summarize_events(events: np.ndarray) -> EventSummary:
    """The :class:`EventSummary` of a non-empty structured event array.

    Raises
    ------
    InvalidDataError
        No events, or not a valid event array (see :func:`events_from_array`).
    """
    ev = events_from_array(events)
    if len(ev) == 0:
        raise InvalidDataError("summarize_events: no events")
    t = ev["t"]
    return EventSummary(events=len(ev), on=int(ev["p"].sum()), t_min=int(t.min()), t_max=int(t.max()),
                        x_min=int(ev["x"].min()), x_max=int(ev["x"].max()), y_min=int(ev["y"].min()),
                        y_max=int(ev["y"].max()), t_backwards=int((np.diff(t) < 0).sum()))
