"""The one error hierarchy of spikeforge.

Every error a user can cause is a :class:`SpikeforgeError`. Messages name the place (layer,
file, field, actor) and the numbers involved, e.g.
``"layer conv3 (tile 7): 4608 input rows needed, crossbar has 256"``. The CLI catches
:class:`SpikeforgeError` only, prints its message on one line and exits non-zero.
"""

from __future__ import annotations

__all__ = [
    "SpikeforgeError",
    "UnsupportedLayerError",
    "ShapeError",
    "InvalidNetworkError",
    "NotConvertedError",
    "InvalidDataError",
    "UnknownStrategyError",
    "ModelFileError",
    "ConversionError",
    "SimulationError",
    "QuantizationError",
    "InvalidHardwareSpecError",
    "CapacityError",
    "InfeasibleMappingError",
    "InvalidGraphError",
    "DeadlockError",
    "AdmissionError",
    "DesignSpaceError",
    "RegularizerError",
    "OutputPathError",
    "InputPathError",
    "ResourceError",
    "ArgumentError",
    "PipelineInvariantError",
    "MissingDependencyError",
    "SDF3AmbiguityWarning",
]


class SpikeforgeError(Exception):
    """Base class of every error spikeforge raises on bad input or an impossible request."""


class UnsupportedLayerError(SpikeforgeError):
    """An operation in an imported model has no representation in the network IR."""


class ShapeError(SpikeforgeError):
    """Tensor shapes of connected layers do not fit together."""


class InvalidNetworkError(SpikeforgeError):
    """A network is malformed: dangling inputs, cycles, duplicate names, NaN/Inf parameters."""


class NotConvertedError(InvalidNetworkError):
    """A stage that needs a spiking network was given an ANN, or an SNN with ReLU layers left."""


class InvalidDataError(SpikeforgeError):
    """Input or calibration data is empty, of the wrong shape or type, or not finite."""


class UnknownStrategyError(InvalidDataError):
    """A partitioner, placer or binder was asked for by a name no registry knows
    (:class:`spikeforge.strategies.Registry`); the message lists the known names."""


class ModelFileError(SpikeforgeError):
    """A model or network file cannot be read safely: missing, not a model, or pickled code."""


class ConversionError(SpikeforgeError):
    """An ANN cannot be converted to an SNN as asked (e.g. degenerate calibration statistics)."""


class SimulationError(SpikeforgeError):
    """A simulation request is invalid (timesteps, mode, network kind)."""


class QuantizationError(SpikeforgeError):
    """Bit-widths or fixed-point formats are invalid or cannot represent the network."""


class InvalidHardwareSpecError(SpikeforgeError):
    """A hardware description has an unknown, missing or out-of-range field."""


class CapacityError(SpikeforgeError):
    """The hardware has too few crossbars, cores or chips for the network."""


class InfeasibleMappingError(SpikeforgeError):
    """A neuron or layer cannot be mapped under the hardware's limits with the allowed options."""


class InvalidGraphError(SpikeforgeError):
    """A dataflow graph is malformed or inconsistent (no repetition vector exists)."""


class DeadlockError(SpikeforgeError):
    """A dataflow graph deadlocks: a cycle carries too few initial tokens."""


class AdmissionError(SpikeforgeError):
    """A run-time admission request is malformed (the rejection of a valid request is a result)."""


class DesignSpaceError(SpikeforgeError):
    """A design-space sweep is malformed: an empty or repeated axis, or an axis the hardware lacks."""


class RegularizerError(SpikeforgeError):
    """Parameters of a firing-rate regulariser are out of range (band, percentile, weight)."""


class OutputPathError(SpikeforgeError):
    """An output path would destroy something spikeforge did not write: a file where a folder goes,
    a folder of other files, the working directory, or a folder where a file goes."""


class InputPathError(SpikeforgeError):
    """An input path cannot be read as asked: missing, not a regular file, unreadable, or larger
    than the kind of file it should be could ever be."""


class ResourceError(SpikeforgeError):
    """A request needs more memory (or disk) than the machine has; refused before allocating,
    quoting what is needed against what is available."""


class ArgumentError(SpikeforgeError, TypeError):
    """A public function was called with an argument of the wrong type or ``None``; the message
    names the parameter, the function and the type given."""


class PipelineInvariantError(SpikeforgeError):
    """An internal error: a pass of the compile pipeline produced a value that breaks an
    invariant the next passes rely on (a neuron mapped twice, a cluster without a core); the
    message names the pass. A bug in spikeforge, not in the input: please report it."""


class MissingDependencyError(SpikeforgeError):
    """An optional package a feature needs is not installed (e.g. ``sanafe`` for the SANA-FE
    backend); the message names the package and the ``pip install`` that provides it."""


class SDF3AmbiguityWarning(UserWarning):
    """A file reads two ways and spikeforge took SDF3's (e.g. an actor whose several
    ``<processor>`` elements carry a ``default`` attribute); the message names the actors and
    the choice made. Not an error: the graph is read as SDF3 reads it."""
