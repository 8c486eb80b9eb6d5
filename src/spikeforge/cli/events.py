"""Commands on event-camera recordings: ``events info FILE [--sensor H W]`` and
``events frames FILE_OR_FOLDER... -T T -o DATA.npz``. A recording is an N-MNIST binary file or an
``.npy`` structured array with fields t, x, y, p (:func:`spikeforge.events.read_events`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

from spikeforge.cli.common import Command, console, count


def run_events_info(args: argparse.Namespace, out: Console | None = None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from spikeforge.events import read_events, summarize_events

    out = out or console()
    summary = summarize_events(read_events(args.file, sensor=tuple(args.sensor)))
    table = Table(title=f"{escape(args.file)}: events, sensor {args.sensor[0]}×{args.sensor[1]}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for figure, value in summary.rows():
        table.add_row(figure, value)
    out.print(table)


def recordings(inputs: list[str]) -> list[Path]:
    """The files named, a folder standing for every ``.bin`` file below it (sorted)."""
    from spikeforge.errors import InvalidDataError

    files: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.bin") if p.is_file())
            if not found:
                raise InvalidDataError(f"{path}: a folder with no .bin recordings below it")
            files += found
        else:
            files.append(path)
    return files


def folder_labels(files: list[Path]) -> list[int]:
    """Class labels from the recordings' folder names, N-MNIST's layout (``Test/7/00012.bin``)."""
    from spikeforge.errors import InvalidDataError

    labels = []
    for file in files:
        name = file.parent.name
        if not name.isdigit():
            raise InvalidDataError(f"{file}: its folder {name!r} is not a class number (N-MNIST keeps "
                                   f"class k's recordings in a folder named k)")
        labels.append(int(name))
    return labels


def run_events_frames(args: argparse.Namespace, out: Console | None = None) -> None:
    import numpy as np
    from rich.markup import escape

    from spikeforge.datasets import Dataset, save_data
    from spikeforge.events import bin_events, read_events, stack_frames
    from spikeforge.outputs import check_output_file

    out = out or console()
    check_output_file(args.output, args.inputs)
    files = recordings(args.inputs)
    labels = np.array(folder_labels(files), dtype=np.int64) if args.labels_from_folders else None
    sensor = tuple(args.sensor)
    events = 0
    frames = []
    for file in files:
        recording = read_events(file, sensor=sensor)
        events += len(recording)
        frames.append(bin_events(recording, sensor=sensor, timesteps=args.timesteps, bin_us=args.bin_us,
                                 mode=args.mode))
    x = stack_frames(frames)
    del frames
    save_data(args.output, Dataset(x, labels, Path(args.output).stem))
    out.print(f"{len(files):,} recordings, {events:,} events -> x {x.shape} float32 ({args.mode}, "
              f"{float(x.sum()) / len(files):,.1f} input spikes per sample)"
              + ("" if labels is None else f", y: {len(set(labels.tolist()))} classes"))
    out.print(f"wrote {escape(args.output)}")


def _sensor_argument(q: argparse.ArgumentParser) -> None:
    from spikeforge.events import MAX_COORDINATE, NMNIST_SENSOR

    q.add_argument("--sensor", nargs=2, type=count(high=MAX_COORDINATE + 1), default=list(NMNIST_SENSOR),
                   metavar=("H", "W"), help="sensor height and width (default 34 34, N-MNIST)")


def _events(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="events_command", required=True)
    q = sub.add_parser("info", help="event count, duration and pixel extent of a recording")
    q.add_argument("file", help="N-MNIST binary file (.bin, 5 bytes per event) or .npy structured array "
                                "(fields t, x, y, p)")
    _sensor_argument(q)
    q.set_defaults(run=run_events_info)
    q = sub.add_parser("frames", help="bin N-MNIST recordings into temporal input data (.npz with x (N, T, 2, H, W))")
    q.add_argument("inputs", nargs="+", help="N-MNIST .bin files or .npy event arrays, or folders (every .bin "
                                             "below)")
    q.add_argument("-o", "--output", required=True, help=".npz data file to write (x, and y with --labels-from-folders)")
    q.add_argument("--timesteps", "-T", type=count(), help="T windows per recording (equal windows, or with "
                   "--bin-us exactly T windows of that length)")
    q.add_argument("--bin-us", type=count(), help="window length in µs")
    q.add_argument("--mode", choices=("binary", "count"), default="binary",
                   help="binary: at most one spike per pixel and step (default); count: event counts")
    _sensor_argument(q)
    q.add_argument("--labels-from-folders", action="store_true",
                   help="y from each recording's folder name (N-MNIST's layout: Train/7/00012.bin is a 7)")
    q.set_defaults(run=run_events_frames)


COMMANDS = (
    Command("events", "event-camera recordings: what an N-MNIST file holds; binned into input data", _events),
)
