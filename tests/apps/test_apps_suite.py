"""The application suite: a tiny end-to-end run on xbar-mesh, and missing data skipped with a reason."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from spikeforge.apps.suite import (
    COLUMNS,
    SuiteConfig,
    mnist_mlp,
    row_cells,
    run_suite,
    suite_table,
)
from spikeforge.errors import InvalidDataError


def test_tiny_suite_gives_a_row_per_app_with_every_column(shared_data):
    config = replace(SuiteConfig.tiny(), mnist_test=20)
    result = run_suite(shared_data, None, apps=("mnist-mlp", "em-smoothing"), hardware=("xbar-mesh",),
                       config=config, quiet=True)
    assert [(r.app, r.hardware) for r in result.rows] == [("mnist-mlp", "xbar-mesh"), ("em-smoothing", "xbar-mesh")]
    for row in result.rows:
        assert row.skipped is None
        assert row.neurons > 0 and row.synapses > 0 and row.metric
        assert 1 <= row.crossbars <= row.clusters and row.chips >= 1
        assert math.isfinite(row.inferences_per_s) and row.inferences_per_s > 0
        assert row.latency_us > 0 and row.energy_uj > 0
        assert len(row_cells(row)) == len(COLUMNS)
    mlp, smooth = result.rows
    assert mlp.partitioner == smooth.partitioner == "greedy"
    assert mlp.neurons == 16 and "ANN" in mlp.metric and smooth.metric.startswith("PSNR")
    assert result.apps["mnist-mlp"].snn.kind == "snn"
    assert [c.header for c in suite_table(result.rows).columns] == list(COLUMNS)


def test_missing_data_skips_each_app_with_where_to_put_it(tmp_path):
    apps = ("mnist-mlp", "cifar-cnn", "ecg-heartbeat", "em-edges")
    result = run_suite(tmp_path, None, apps=apps, hardware=("xbar-mesh", "loihi"), config=SuiteConfig.tiny(),
                       quiet=True)
    assert len(result.rows) == 8 and not result.apps
    reasons = {r.app: r.skipped for r in result.rows}
    assert "MNIST: mnist_5k_train.csv.gz" in reasons["mnist-mlp"] and "put the files there" in reasons["mnist-mlp"]
    assert "CIFAR-10: train_jpeg.npz" in reasons["cifar-cnn"]
    assert "MIT-BIH record 100" in reasons["ecg-heartbeat"]
    assert "ISBI 2012 EM slices not found" in reasons["em-edges"]
    assert row_cells(result.rows[0])[2].startswith("skipped: MNIST")
    with pytest.raises(InvalidDataError, match=r"MNIST: .* not found in .*mnist; put the files there"):
        mnist_mlp(tmp_path, None, SuiteConfig.tiny())


def test_unknown_application_is_refused(tmp_path):
    with pytest.raises(InvalidDataError, match="unknown application.*mnist-resnet"):
        run_suite(tmp_path, apps=("mnist-resnet",), quiet=True)
