"""Channels whose every call carries the token: a thin wrapper around a
grpc channel that adds `authorization` metadata to each call (not an
interceptor, so streaming calls keep grpc's direct `write()` path)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import grpc

#: gRPC call metadata: (key, value) pairs.
Metadata = tuple[tuple[str, str], ...]
#: The metadata a caller passes to a call, if any.
CallerMetadata = Sequence[tuple[str, str]] | None


def _with_metadata(extra: Metadata, metadata: CallerMetadata) -> Metadata:
    return tuple(metadata or ()) + extra


class _MultiCallable(Protocol):
    """A grpc multi-callable (what a channel's `unary_unary` & co. return;
    `with_call` and `future` are the blocking channel's only)."""

    def __call__(self, *args: object, **kwargs: object) -> object: ...

    def with_call(self, *args: object, **kwargs: object) -> object: ...

    def future(self, *args: object, **kwargs: object) -> object: ...


class _TokenCallable:
    """A multi-callable that adds `extra` metadata to each call."""

    def __init__(self, inner: _MultiCallable, extra: Metadata) -> None:
        self._inner = inner
        self._extra = extra

    def __call__(self, *args: object, metadata: CallerMetadata = None, **kwargs: object) -> object:
        return self._inner(*args, metadata=_with_metadata(self._extra, metadata), **kwargs)

    def with_call(self, *args: object, metadata: CallerMetadata = None, **kwargs: object) -> object:
        return self._inner.with_call(*args, metadata=_with_metadata(self._extra, metadata), **kwargs)

    def future(self, *args: object, metadata: CallerMetadata = None, **kwargs: object) -> object:
        return self._inner.future(*args, metadata=_with_metadata(self._extra, metadata), **kwargs)


class _TokenMethods:
    """The call factories of a channel whose calls carry the token."""

    _channel: grpc.Channel | grpc.aio.Channel
    _extra: Metadata

    def unary_unary(self, method: str, *args: object, **kwargs: object) -> _TokenCallable:
        return _TokenCallable(self._channel.unary_unary(method, *args, **kwargs), self._extra)

    def unary_stream(self, method: str, *args: object, **kwargs: object) -> _TokenCallable:
        return _TokenCallable(self._channel.unary_stream(method, *args, **kwargs), self._extra)

    def stream_unary(self, method: str, *args: object, **kwargs: object) -> _TokenCallable:
        return _TokenCallable(self._channel.stream_unary(method, *args, **kwargs), self._extra)

    def stream_stream(self, method: str, *args: object, **kwargs: object) -> _TokenCallable:
        return _TokenCallable(self._channel.stream_stream(method, *args, **kwargs), self._extra)


class TokenChannel(_TokenMethods, grpc.Channel):  # type: ignore[misc]  # grpc is untyped
    """A blocking channel whose calls carry the token."""

    def __init__(self, channel: grpc.Channel, extra: Metadata) -> None:
        self._channel = channel
        self._extra = extra

    def subscribe(
        self, callback: Callable[[grpc.ChannelConnectivity], None], try_to_connect: bool = False
    ) -> None:
        self._channel.subscribe(callback, try_to_connect)

    def unsubscribe(self, callback: Callable[[grpc.ChannelConnectivity], None]) -> None:
        self._channel.unsubscribe(callback)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> TokenChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()


class TokenAioChannel(_TokenMethods, grpc.aio.Channel):  # type: ignore[misc]  # grpc is untyped
    """A grpc.aio channel whose calls carry the token."""

    def __init__(self, channel: grpc.aio.Channel, extra: Metadata) -> None:
        self._channel = channel
        self._extra = extra

    async def __aenter__(self) -> TokenAioChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._channel.close()

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._channel.channel_ready()

