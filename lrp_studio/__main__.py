"""``python -m lrp_studio``: the same as the ``lrp-studio`` command (and ``python -m lrp_studio.cli``)."""

import sys

from lrp_studio.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
