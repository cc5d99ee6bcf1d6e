"""The `symbatcher` command. Each subcommand lives in its own module of
`symbatcher.cli`, which provides `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys

#: subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "worker": ("symbatcher.cli.worker", "serve an expression to a symbatcher server"),
    "run": ("symbatcher.cli.run", "run an expression over a JSONL, CSV or Parquet file or a saved dataset"),
    "engine": ("symbatcher.cli.engine", "serve symai's configured engine (or a BatchEngine) to a server"),
    "status": ("symbatcher.cli.status", "show a server's workers, engines, queues and jobs"),
}


def version() -> str:
    """The installed package's version."""
    try:
        return importlib.metadata.version("symbatcher")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symbatcher",
        description="Run symai Expressions over datasets with batched engine calls.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    #: The command line again, for a process that runs itself anew.
    args._argv = list(sys.argv[1:] if argv is None else argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
