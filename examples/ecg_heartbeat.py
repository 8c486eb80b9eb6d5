"""Heartbeat classification (normal vs abnormal) on MIT-BIH record 100 with a 1-D CNN, converted to an SNN;
then partitioned, placed and analysed (guaranteed throughput, latency, energy) on xbar-mesh and loihi.

    .venv/bin/python examples/ecg_heartbeat.py [--data DIR] [--cache DIR] [--hw loihi]

Data from ../shared/data (or $SPIKEFORGE_DATA); trained weights cached in ~/.cache/spikeforge.
"""

from _suite import run_apps

if __name__ == "__main__":
    run_apps("ecg-heartbeat")
