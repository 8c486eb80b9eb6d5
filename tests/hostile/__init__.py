"""The hostile-input suite (issue 17, item 8): corrupt, hostile and oversized inputs for every kind
of input spikeforge reads, and the runner that classifies what spikeforge does with them.

The promise under test: bad input gets a one-line error (the CLI prints exactly one line on
stderr starting ``spikeforge <command>: error:`` and exits non-zero; the API raises a
:class:`spikeforge.errors.SpikeforgeError` subclass), nothing partial is written, nothing of
the user's is ever destroyed, no hang, no silent wrong answer.

``generators`` yields named cases, ``base`` builds the small valid inputs they start from,
``runner`` runs a case (a CLI subprocess, or an API call in a worker subprocess) and
classifies its outcome; ``worker`` is the API worker's main program. The whole campaign is
``python -m bench.robustness``; a fast subset runs in ``tests/test_hostile.py``.
"""
