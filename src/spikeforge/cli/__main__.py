"""``python -m spikeforge.cli``: the same as the ``spikeforge`` command."""

import sys

from spikeforge.cli import main

if __name__ == "__main__":
    sys.exit(main())
