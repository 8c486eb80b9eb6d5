"""Dataflow stage: SDF3 I/O, consistency and deadlock, max-plus throughput, self-timed simulation.

Modules: :mod:`~spikeforge.dataflow.sdf3` (XML), :mod:`~spikeforge.dataflow.consistency`
(repetition vector, deadlock), :mod:`~spikeforge.dataflow.maxplus` (Howard's algorithm),
:mod:`~spikeforge.dataflow.analysis` (throughput, critical cycle, latency, buffers) and
:mod:`~spikeforge.dataflow.selftimed` (discrete-event simulation),
:mod:`~spikeforge.dataflow.binding` (crossbar binding and static orders, design time) and
:mod:`~spikeforge.dataflow.commands` (``spikeforge analyse``).
"""

from spikeforge.dataflow.analysis import (BufferPoint, CriticalCycle, MaxPlusMatrix,
                                          ThroughputResult, buffer_tradeoff, critical_cycle,
                                          latency, maxplus_matrix, throughput)
from spikeforge.dataflow.consistency import blocked_cycle, check_deadlock, repetition_vector
from spikeforge.dataflow.binding import (STRATEGIES, Platform, Schedule, apply_binding, bind,
                                         evaluate, with_schedule)
from spikeforge.dataflow.sdf3 import read_sdf3, to_sdf3_string, write_sdf3
from spikeforge.dataflow.selftimed import Firing, SelfTimedResult, simulate

__all__ = ["BufferPoint", "CriticalCycle", "MaxPlusMatrix", "ThroughputResult", "buffer_tradeoff",
           "critical_cycle", "latency", "maxplus_matrix", "throughput", "blocked_cycle",
           "check_deadlock", "repetition_vector", "read_sdf3", "to_sdf3_string", "write_sdf3",
           "Firing", "SelfTimedResult", "simulate", "STRATEGIES", "Platform", "Schedule",
           "apply_binding", "bind", "evaluate", "with_schedule"]
