"""The one entry point: ``funnel <command> ...``.

Each stage registers its own subcommands in ``<stage>/commands.py`` through a
``register(groups)`` function, so this file only builds the command tree and
turns library errors into one clear line. Building the parser imports no
TensorFlow, Beam or ScaNN (choices come from each stage's ``names`` module and
handlers import the heavy libraries when they run): ``funnel --help`` answers at
once, and a bad flag fails before any work starts.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from funnel import noise
from funnel.flags import Parser

DESCRIPTION = """\
funnel recommends items in two steps: a two-tower model retrieves a few hundred
candidates for a user from the whole catalog (ScaNN), and a click-through-rate
model ranks them. Its commands follow the data: generate or bring interaction
logs, preprocess them into training examples, train and evaluate both models,
export them for serving, and serve recommendations over REST.
"""
COMMAND_MODULES = (
    "pipelines.commands",
    "retrieval.commands",
    "retrieval.candidate_commands",
    "ranking.commands",
    "serving.export.commands",
    "serving.evaluation.commands",
    "serving.commands",
    "funnel.build",
)
GROUPS = {
    "generate": "write a synthetic dataset (IDW paper, Appendix A)",
    "preprocess": "turn raw events into training examples (Apache Beam pipeline)",
    "candidates": "build retrieval's candidate lists for training the ranker (Beam)",
    "train": "train a model (retrieval or ranking)",
    "evaluate": "evaluate a trained model or a whole export",
    "experiment": "run a multi-seed comparison and write a report",
    "export": "export SavedModels and a ScaNN index for serving, or verify an export",
    "serve": "run the REST recommend service",
    "build": "all of the above, raw data to a served export, in one resumable command",
}
"""Command groups, in the order data flows through them (the help lists them so)."""
LEAF_GROUPS = {"generate", "preprocess", "candidates", "export", "serve", "build"}
"""Groups that are commands themselves, without a second word."""
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, KeyError)
"""Library exceptions that mean "bad input": one line on stderr, exit 2, no traceback."""
QUIET_WARNINGS = ("apitools not found",)
"""Third-party warnings that say nothing to a funnel user (Beam's BigQuery client at import)."""
QUIET_LOGGERS = ("absl", "tensorflow")
"""Loggers whose INFO records are TensorFlow's internals (sharding callbacks, renamed SavedModel
inputs, "Assets written to"): warnings only, unless ``-v``."""


class UsageError(Exception):
    """A user error the CLI reports as one line, exit code 2."""


class _DropQuietWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(QUIET_WARNINGS)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="funnel", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     title="commands (in data-flow order)")
    groups: dict[str, argparse.ArgumentParser | argparse._SubParsersAction] = {}
    for name, help_text in GROUPS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name in LEAF_GROUPS:
            groups[name] = sub
        else:
            groups[name] = sub.add_subparsers(dest="subcommand", required=True, metavar="WHAT")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(groups)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropQuietWarnings())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Run one command; ``argv`` None is a process's own command line (``funnel ...``), whose
    stderr then drops TensorFlow's and ScaNN's native INFO lines (:func:`noise.filter_native_logs`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    _configure_logging(args.verbose)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.error(f"'{args.command}' needs a subcommand")
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if argv is None:
        noise.filter_native_logs()
    try:
        result = handler(args, extra) if getattr(args, "accepts_extra", False) else handler(args)
    except (UsageError, *USER_ERRORS) as error:
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
