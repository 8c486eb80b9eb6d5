"""Dataflow stage: SDF3 I/O, consistency and deadlock, max-plus throughput, self-timed simulation.

Modules: :mod:`~spikeforge.dataflow.sdf3` (XML), :mod:`~spikeforge.dataflow.consistency`
(repetition vector, deadlock), :mod:`~spikeforge.dataflow.maxplus` (Howard's algorithm),
:mod:`~spikeforge.dataflow.analysis` (throughput, critical cycle, latency),
:mod:`~spikeforge.dataflow.buffers` (buffer-size / throughput trade-off),
:mod:`~spikeforge.dataflow.selftimed` (discrete-event simulation),
:mod:`~spikeforge.dataflow.binding` (crossbar binding and static orders, design time) and
:mod:`~spikeforge.dataflow.report` (the figures ``spikeforge analyse`` prints).
"""

import importlib

#: Where each exported name lives; a module is imported at the first use of one of its names, so
#: that reading a graph does not import the binding (pydantic) or networkx.
_EXPORTS = {
    "analysis": ("CriticalCycle", "MaxPlusMatrix", "ThroughputResult", "critical_cycle", "latency",
                 "maxplus_matrix", "throughput"),
    "buffers": ("BufferPoint", "buffer_tradeoff"),
    "consistency": ("blocked_cycle", "check_deadlock", "repetition_vector"),
    "binding": ("BINDERS", "DEFAULT_BINDER", "Platform", "Schedule", "apply_binding", "bind", "evaluate", "with_schedule"),
    "sdf3": ("read_sdf3", "to_sdf3_string", "write_sdf3"),
    "selftimed": ("Firing", "SelfTimedResult", "simulate"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value
