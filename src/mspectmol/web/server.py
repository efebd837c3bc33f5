"""Running the web app under uvicorn with connection limits (``mspectmol serve``).

uvicorn's HTTP/1.1 server (h11) waits for a request's headers as long as the client keeps
the connection open, and a client that sends a byte now and then during the headers resets
even the keep-alive timer. :class:`GuardedH11Protocol` gives each request's line and headers
a deadline (``header_timeout`` from the connection or from the end of the previous response):
a client that has not sent them all by then gets ``408`` and the connection is closed.
:func:`uvicorn_config` puts it together with the keep-alive timeout, the header size limit
and the cap on open connections (beyond it uvicorn answers 503).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

_TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                   b"connection: close\r\ncontent-length: 48\r\n\r\n"
                   b"request headers not received in time; goodbye.\r\n")


@dataclass(frozen=True)
class ServerLimits:
    """Connection limits of the HTTP server.

    Attributes
    ----------
    header_timeout
        Seconds a client has to send a request's line and headers (from the connection,
        or from the end of the previous response on a kept-alive connection).
    keep_alive
        Seconds an idle kept-alive connection stays open (uvicorn's ``timeout_keep_alive``).
    max_header_bytes
        Largest request line and headers (h11's ``max_incomplete_event_size``).
    max_connections
        Open connections and requests at once; uvicorn answers 503 beyond
        (``limit_concurrency``).
    """

    header_timeout: float = 10.0
    keep_alive: int = 5
    max_header_bytes: int = 16 * 1024
    max_connections: int = 64


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers.

    The deadline is the class attribute ``header_timeout``; :func:`guarded_protocol` makes
    a subclass with a given value.
    """

    header_timeout: float = ServerLimits.header_timeout

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None
                                                or self.cycle.response_complete):
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timeout,
                                                  self.cycle)

    def _header_timeout(self, cycle: Any) -> None:
        """Close the connection when no new request started since the timer was armed."""
        self._header_timer = None
        if self.transport.is_closing() or self.cycle is not cycle:
            return
        if cycle is not None and not cycle.response_complete:
            return
        self.logger.info("closed a connection: request headers not received in %g s",
                         self.header_timeout)
        if self.conn.our_state is h11.IDLE:  # between requests: say why
            self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()


def guarded_protocol(header_timeout: float) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with deadline ``header_timeout`` seconds."""
    if not header_timeout > 0:
        raise ValueError(f"header_timeout must be positive, got {header_timeout}")
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"header_timeout": float(header_timeout)})


def uvicorn_config(app: Any, host: str, port: int, limits: ServerLimits | None = None, *,
                   log_level: str = "info") -> uvicorn.Config:
    """uvicorn's configuration for the app with :class:`ServerLimits` (h11 with header
    deadlines, keep-alive timeout, header size and connection caps, no server header)."""
    limits = limits or ServerLimits()
    return uvicorn.Config(app, host=host, port=port, log_level=log_level,
                          server_header=False, http=guarded_protocol(limits.header_timeout),
                          timeout_keep_alive=limits.keep_alive,
                          h11_max_incomplete_event_size=limits.max_header_bytes,
                          limit_concurrency=limits.max_connections)
