"""Run time: admission of applications onto a partly occupied platform."""

from spikeforge.runtime.admission import AdmissionResult, Runtime

__all__ = ["AdmissionResult", "Runtime"]
