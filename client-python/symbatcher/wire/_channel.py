"""The one place that builds gRPC channels: message sizes, the bearer token,
and TLS (with a client certificate for servers that verify clients).

`make_channel` / `make_aio_channel` (or a `Connection`'s `channel` /
`aio_channel`) return channels whose every call carries
`authorization: Bearer TOKEN` metadata when a token is set, over TLS when
asked. The token is attached per call by a thin channel wrapper, not by an
interceptor, so streaming calls keep grpc's direct `write()` path.

The token defaults to `$SYMBATCHER_AUTH_TOKEN`; `token=""` sends none.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from symbatcher.wire._token_channel import Metadata, TokenAioChannel, TokenChannel
from symbatcher.wire._settings import (
    KEEPALIVE_INTERVAL_MS,
    KEEPALIVE_TIMEOUT_MS,
    MAX_MESSAGE_BYTES,
)

#: gRPC channel options: (name, value) pairs.
ChannelOptions = Sequence[tuple[str, int | str]]

#: Large messages (item and result chunks); keepalive pings, also on idle
#: connections (the server, tonic, accepts any ping rate); no HTTP proxy for
#: the scheduler.
CHANNEL_OPTIONS: ChannelOptions = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", KEEPALIVE_INTERVAL_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    # grpcio >= 1.6x times every ping out with this one (default 60 s).
    ("grpc.http2.ping_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_http_proxy", 0),
]

#: Environment variable holding the token clients send.
TOKEN_ENV = "SYMBATCHER_AUTH_TOKEN"


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token in a file (surrounding whitespace removed); ValueError naming
    the file when it cannot be read or is empty."""
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise ValueError(f"token file {os.fspath(path)}: cannot read: {exc.strerror}") from None
    if not token:
        raise ValueError(f"token file {os.fspath(path)}: is empty")
    return token


@dataclass(frozen=True)
class Connection:
    """How to reach a server: the token sent with every call (None: none) and
    TLS (`tls_ca`: PEM root certificates; None with `tls` uses the system's;
    `tls_client_cert` / `tls_client_key`: the PEM certificate chain and key
    this client presents to a server that verifies clients, mutual TLS)."""

    token: str | None = None
    tls: bool = False
    tls_ca: bytes | None = None
    tls_client_cert: bytes | None = None
    tls_client_key: bytes | None = None

    def __repr__(self) -> str:  # never show the token or the key
        return (
            f"Connection(token={'set' if self.token else None}, tls={self.tls}, "
            f"client_cert={self.tls_client_cert is not None})"
        )

    @classmethod
    def create(
        cls,
        *,
        token: str | None = None,
        tls: bool | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_client_cert: str | os.PathLike[str] | None = None,
        tls_client_key: str | os.PathLike[str] | None = None,
    ) -> Connection:
        """`token` None reads $SYMBATCHER_AUTH_TOKEN ("" sends none); `tls_ca`
        (a PEM file) implies `tls`, and so do `tls_client_cert` and
        `tls_client_key` (PEM files, given together). ValueError naming the
        option for a file that cannot be read."""
        if token is None:
            token = os.environ.get(TOKEN_ENV, "").strip()
        if (tls_client_cert is None) != (tls_client_key is None):
            given, missing = (
                ("tls_client_cert", "tls_client_key")
                if tls_client_cert is not None
                else ("tls_client_key", "tls_client_cert")
            )
            raise ValueError(f"{given}: needs {missing} too (the client certificate and its key)")
        ca = _read_pem("tls_ca", tls_ca)
        cert = _read_pem("tls_client_cert", tls_client_cert)
        key = _read_pem("tls_client_key", tls_client_key)
        return cls(
            token=token or None,
            tls=bool(tls) or ca is not None or cert is not None,
            tls_ca=ca,
            tls_client_cert=cert,
            tls_client_key=key,
        )

    def _credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.tls_ca,
            private_key=self.tls_client_key,
            certificate_chain=self.tls_client_cert,
        )

    def _metadata(self) -> Metadata:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def channel(self, address: str, options: ChannelOptions | None = None) -> grpc.Channel:
        options = CHANNEL_OPTIONS if options is None else options
        if self.tls:
            channel = grpc.secure_channel(address, self._credentials(), options=options)
        else:
            channel = grpc.insecure_channel(address, options=options)
        return TokenChannel(channel, self._metadata()) if self.token else channel

    def aio_channel(self, address: str, options: ChannelOptions | None = None) -> grpc.aio.Channel:
        options = CHANNEL_OPTIONS if options is None else options
        if self.tls:
            channel = grpc.aio.secure_channel(address, self._credentials(), options=options)
        else:
            channel = grpc.aio.insecure_channel(address, options=options)
        _aio_channels.add(channel)
        return TokenAioChannel(channel, self._metadata()) if self.token else channel


def _read_pem(option: str, path: str | os.PathLike[str] | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{option}: cannot read {os.fspath(path)}: {exc.strerror}") from None


#: Every grpc.aio channel made here that is still alive.
_aio_channels: weakref.WeakSet[grpc.aio.Channel] = weakref.WeakSet()


def release_aio_channels() -> None:
    """Frees the closed grpc.aio channels that reference cycles still hold
    (a channel sits in one with the finished tasks that used it), so that
    grpc.aio stops its poller thread once none is left. A young-generation
    collection frees them in the common case at a small cost; a full one
    (which walks the whole heap, a second or more with symai loaded) runs
    only when a channel survived it."""
    gc.collect(1)
    if len(_aio_channels):
        gc.collect()


def make_channel(
    address: str,
    *,
    token: str | None = None,
    tls: bool | None = None,
    tls_ca: str | os.PathLike[str] | None = None,
    tls_client_cert: str | os.PathLike[str] | None = None,
    tls_client_key: str | os.PathLike[str] | None = None,
) -> grpc.Channel:
    """A blocking channel to `address` (see `Connection.create` for the options)."""
    return Connection.create(
        token=token, tls=tls, tls_ca=tls_ca,
        tls_client_cert=tls_client_cert, tls_client_key=tls_client_key,
    ).channel(address)


def make_aio_channel(
    address: str,
    *,
    token: str | None = None,
    tls: bool | None = None,
    tls_ca: str | os.PathLike[str] | None = None,
    tls_client_cert: str | os.PathLike[str] | None = None,
    tls_client_key: str | os.PathLike[str] | None = None,
) -> grpc.aio.Channel:
    """A grpc.aio channel to `address` (see `Connection.create` for the options)."""
    return Connection.create(
        token=token, tls=tls, tls_ca=tls_ca,
        tls_client_cert=tls_client_cert, tls_client_key=tls_client_key,
    ).aio_channel(address)
