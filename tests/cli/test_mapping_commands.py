"""The ``hw`` and ``map`` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mapping.mapping_helpers import conv_net, small_hw

from spikeforge.cli import build_parser
from spikeforge.datasets import Dataset, save_data
from spikeforge.errors import CapacityError, InvalidHardwareSpecError
from spikeforge.hardware import hardware_to_toml
from spikeforge.ir.serialize import save_network


def _run(argv):
    args = build_parser().parse_args(argv)
    args.run(args)


def test_cli_hw_list_show(capsys):
    _run(["hw", "list"])
    out = capsys.readouterr().out
    assert "loihi" in out and "pynq-z2-accel" in out and "38.4 GOPS" in out
    _run(["hw", "show", "truenorth"])
    assert "crossbar_rows" in capsys.readouterr().out
    _run(["hw", "show", "pynq-z2-accel"])
    assert "ops_per_cycle_per_pe" in capsys.readouterr().out
    with pytest.raises(InvalidHardwareSpecError, match="unknown hardware"):
        _run(["hw", "show", "nope"])


def test_cli_map_writes_placement(tmp_path):
    save_network(conv_net(), tmp_path / "snn")
    x = np.random.default_rng(0).random((4, 1, 6, 6)).astype(np.float32)
    save_data(tmp_path / "calib.npz", Dataset(x, np.zeros(4, np.int64), "calib"))
    out = tmp_path / "placement.json"
    hwfile = tmp_path / "hw.toml"
    hwfile.write_text(hardware_to_toml(small_hw(64, 8)))
    _run(["map", str(tmp_path / "snn"), "--hw", str(hwfile), "--chips", "6", "--calib", str(tmp_path / "calib.npz"),
          "-o", str(out), "-T", "4"])
    doc = json.loads(out.read_text())
    assert doc["placer"] == "min-cut" and doc["clusters"] and "energy_j" in doc["report"]
    bad = tmp_path / "bad.json"
    with pytest.raises(CapacityError, match="needs"):
        _run(["map", str(tmp_path / "snn"), "--hw", str(hwfile), "--chips", "1", "--calib",
              str(tmp_path / "calib.npz"), "-o", str(bad), "-T", "4"])
    assert not bad.exists()  # nothing half-written when the placement fails
