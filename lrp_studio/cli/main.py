"""``lrp-studio``: the parser, the dispatch to one module per sub-command, and the error handling.

Errors in user input print one line on stderr (``lrp-studio: error: ...``) and exit with status 2,
argparse's usage errors included; Ctrl-C prints ``lrp-studio: interrupted`` and exits with 130.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType
from typing import Sequence

from lrp_studio.cli import atlas, bench, compare, evaluate, explain, export, gui, import_model, train, tune
from lrp_studio.cli.options import PROG, Parser, add_backend, refuse_both_spellings
from lrp_studio import __version__
from lrp_studio.errors import LRPStudioError

#: Sub-command name -> module with ``add_parser(subparsers)`` and ``run(args) -> int``.
SUBCOMMANDS: dict[str, ModuleType] = {
    "gui": gui, "train": train, "explain": explain, "export": export, "bench": bench, "import": import_model,
    "compare": compare, "evaluate": evaluate, "atlas": atlas, "tune": tune,
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser: every sub-command of :data:`SUBCOMMANDS` with its options."""
    parser = Parser(prog=PROG, description="See inside neural networks with Layer-wise Relevance Propagation.",
                    epilog=f"'{PROG}' without a command opens the desktop app; '{PROG} COMMAND --help' lists a "
                           "command's options.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_backend(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    parser.commands = {}  # sub-command name -> its parser (for "did you mean" on unknown options)
    for name, module in SUBCOMMANDS.items():
        parser.commands[name] = module.add_parser(sub)
        add_backend(parser.commands[name])
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; unknown options are refused by the sub-command's parser, with a suggestion."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        owner = parser.commands.get(args.command) if args.command else parser
        (owner if isinstance(owner, Parser) else parser).unrecognized(extras)
    return args


def _report(error: BaseException) -> int:
    if isinstance(error, OSError):
        name = f"{error.filename}: " if getattr(error, "filename", None) else ""
        print(f"{PROG}: error: {name}{error.strerror or error}", file=sys.stderr)
    else:
        print(f"{PROG}: error: {error}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lrp-studio``; returns the process exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``). No command: ``gui``.

    Returns
    -------
    int
        0 on success, 2 for bad input (one line on stderr), 130 after Ctrl-C.
    """
    from lrp_studio.backend import tune_host_allocator

    tune_host_allocator()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        try:
            args = _parse(parser, argv)
            if args.command is None:
                args = _parse(parser, [*argv, "gui"])
        except SystemExit as done:  # --help (0) or a usage error, already printed as one line (2)
            return done.code if isinstance(done.code, int) else 2
        refuse_both_spellings(args, argv)
        if getattr(args, "backend", None):
            from lrp_studio.backend import set_backend

            set_backend(args.backend)
        return SUBCOMMANDS[args.command].run(args)
    except (LRPStudioError, OSError) as error:
        return _report(error)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
