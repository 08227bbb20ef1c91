"""The one entry point: ``funnel <command> ...``.

Each stage registers its own subcommands in ``<stage>/commands.py`` through a
``register(groups)`` function, so this file only builds the command tree and
turns library errors into one clear line. Handlers import TensorFlow lazily:
``funnel --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = (
    "pipelines.commands",
    "retrieval.commands",
    "ranking.commands",
    "serving.commands",
    "serving.service_commands",
)
GROUPS = {
    "generate": "write a synthetic dataset (IDW paper, Appendix A)",
    "preprocess": "run the Beam preprocessing pipeline",
    "train": "train a model (retrieval or ranking)",
    "evaluate": "evaluate a trained model or a whole export",
    "experiment": "run a multi-seed comparison and write a report",
    "export": "export SavedModels and a ScaNN index for serving",
    "serve": "run the REST recommend service",
}
LEAF_GROUPS = {"generate", "preprocess", "export", "serve"}
"""Groups that are commands themselves, without a second word."""


class UsageError(Exception):
    """A user error the CLI reports as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="funnel", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse.ArgumentParser | argparse._SubParsersAction] = {}
    for name, help_text in GROUPS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name in LEAF_GROUPS:
            groups[name] = sub
        else:
            groups[name] = sub.add_subparsers(dest="subcommand", required=True, metavar="WHAT")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.error(f"'{args.command}' needs a subcommand")
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        result = handler(args, extra) if getattr(args, "accepts_extra", False) else handler(args)
    except (UsageError, ValueError, FileNotFoundError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"funnel {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Exception as error:
        if args.verbose or not _is_tensorflow_error(error):
            raise
        first_line = (getattr(error, "message", "") or str(error)).strip().splitlines()[0:1]
        print(f"funnel {args.command}: error: TensorFlow {type(error).__name__}: "
              f"{first_line[0] if first_line else ''} (the data does not fit the model; "
              "-v shows the traceback)", file=sys.stderr)
        return 2
    return int(result or 0)


def _is_tensorflow_error(error: Exception) -> bool:
    """A TensorFlow op failure (an empty table file, a shape the data cannot fill): one
    line for the user, not a traceback through TensorFlow's internals."""
    tf = sys.modules.get("tensorflow")
    errors = getattr(tf, "errors", None)
    return errors is not None and isinstance(error, errors.OpError)


if __name__ == "__main__":
    sys.exit(main())
