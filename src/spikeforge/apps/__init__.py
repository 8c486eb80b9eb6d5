"""Applications on real data, as examples a user copies from.

Each module loads its data, builds or converts its network and reports metrics; the
runnable scripts live in ``examples/`` and the benchmarks in ``bench/``:

- :mod:`spikeforge.apps.em` — spiking U-Net segmentation of ISBI 2012 EM slices;
- :mod:`spikeforge.apps.ecg` — heartbeat classification on MIT-BIH record 100;
- :mod:`spikeforge.apps.filters` — hand-built smoothing and edge-detection SNNs;
- :mod:`spikeforge.apps.suite` — the standard application suite table.
"""
