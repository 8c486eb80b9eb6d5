"""Other simulators a placed spikeforge network can run on, to check spikeforge's own figures.

Each backend is an optional extra: its package is imported only when the backend runs, and a
missing one raises :class:`~spikeforge.errors.MissingDependencyError` naming the ``pip install``
that provides it. ``import spikeforge`` and the default install never need them.

* :mod:`spikeforge.backends.sanafe` — SANA-FE (``pip install 'spikeforge[sanafe]'``, GPL-3.0).
"""
