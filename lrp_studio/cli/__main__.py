"""``python -m lrp_studio.cli``: the same as the ``lrp-studio`` command."""

import sys

from lrp_studio.cli.main import main

sys.exit(main())
