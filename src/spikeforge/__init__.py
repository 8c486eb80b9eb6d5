"""spikeforge: deep networks to spiking networks on neuromorphic hardware, with guarantees."""

__version__ = "0.1.0"
