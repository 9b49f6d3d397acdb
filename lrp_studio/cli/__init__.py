"""The ``lrp-studio`` command line, one module per sub-command.

:mod:`.main` builds the parser and dispatches; :mod:`.options` holds the options shared by the
sub-commands (the method flags built from the parameter declarations); ``gui``, ``train``,
``explain``, ``export``, ``bench``, ``import_model`` (``lrp-studio import``), ``compare`` and
``evaluate`` each add their parser and run. ``lrp_studio.cli:main`` is the console script;
``python -m lrp_studio.cli`` runs the same.
"""

from lrp_studio.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
