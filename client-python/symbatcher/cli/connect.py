"""Connection options shared by every `symbatcher` subcommand: the token
(`$SYMBATCHER_AUTH_TOKEN` by default, or `--token-file`) and TLS (`--tls`,
`--tls-ca`, and a client certificate: `--tls-client-cert`, `--tls-client-key`)."""

from __future__ import annotations

import argparse
from typing import TypedDict

from symbatcher.wire._channel import TOKEN_ENV, Connection, read_token_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--token-file", default=None, metavar="PATH",
        help=f"file holding the server's token (default: ${TOKEN_ENV}, if set)",
    )
    group.add_argument(
        "--tls", action="store_true",
        help="connect with TLS, verifying the server against the system's CA certificates",
    )
    group.add_argument(
        "--tls-ca", default=None, metavar="PATH",
        help="connect with TLS, verifying the server against this PEM CA certificate",
    )
    group.add_argument(
        "--tls-client-cert", default=None, metavar="PATH",
        help=(
            "present this PEM client certificate (chain) to a server that verifies "
            "clients (its --tls-client-ca); needs --tls-client-key; implies --tls"
        ),
    )
    group.add_argument(
        "--tls-client-key", default=None, metavar="PATH",
        help="PEM private key of --tls-client-cert",
    )


def connection(args: argparse.Namespace) -> Connection:
    """The Connection the options describe; ValueError naming the option."""
    token = read_token_file(args.token_file) if args.token_file else None
    try:
        return Connection.create(
            token=token, tls=args.tls, tls_ca=args.tls_ca,
            tls_client_cert=args.tls_client_cert, tls_client_key=args.tls_client_key,
        )
    except ValueError as exc:
        # The message names the keyword: name the option instead.
        option, _, rest = str(exc).partition(": ")
        raise ValueError(f"--{option.replace('_', '-')}: {rest}") from None


def child_argv(args: argparse.Namespace) -> list[str]:
    """The options again, for a child process."""
    argv = ["--token-file", args.token_file] if args.token_file else []
    if args.tls:
        argv.append("--tls")
    if args.tls_ca:
        argv += ["--tls-ca", args.tls_ca]
    if args.tls_client_cert:
        argv += ["--tls-client-cert", args.tls_client_cert]
    if args.tls_client_key:
        argv += ["--tls-client-key", args.tls_client_key]
    return argv


class SchedulerConnectionOptions(TypedDict):
    """The connection keywords of BatchScheduler."""

    token: str | None
    tls: bool | None
    tls_ca: str | None
    tls_client_cert: str | None
    tls_client_key: str | None


def scheduler_options(args: argparse.Namespace) -> SchedulerConnectionOptions:
    """The options as BatchScheduler keywords (the token file read here)."""
    return {
        "token": read_token_file(args.token_file) if args.token_file else None,
        "tls": args.tls or None,
        "tls_ca": args.tls_ca,
        "tls_client_cert": args.tls_client_cert,
        "tls_client_key": args.tls_client_key,
    }
