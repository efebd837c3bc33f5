"""ASGI middleware of the web app: the upload size limit and the page's security headers.

:class:`UploadLimit` enforces the limit on request bodies while they stream in: a request
whose ``Content-Length`` is over the limit is answered ``413`` before any of its body is read,
and a body without a length (chunked) is counted as it arrives and stopped at the first chunk
that takes it over the limit, so a 100 MB upload never sits in memory or on disk.
:class:`SecurityHeaders` adds a Content-Security-Policy that lets pages load nothing from other
machines (no scripts, styles, images or fonts from a CDN; forms post only to the app).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: Builds the response to a request over the limit: ``(scope, message) -> ASGI app``.
TooLargeResponder = Callable[[Scope, str], ASGIApp]

#: Content-Security-Policy of every response: inline CSS/JS of the page itself, images
#: from the app or ``data:`` URLs, nothing from any other origin.
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
_HEADERS = [(b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-store")]


class UploadTooLarge(Exception):
    """A request body went over the upload limit (raised by the counting ``receive``)."""


def too_large_message(limit: int) -> str:
    """The message of a ``413`` answer for a limit of ``limit`` bytes."""
    size = f"{limit / 2**20:.3g} MB" if limit >= 2**20 else f"{limit} bytes"
    return (f"upload too large: the files of one request may hold at most {size} in all "
            "(the limit is set with mspectmol serve --max-upload-mb)")


class UploadLimit:
    """Refuse request bodies over ``max_bytes`` with ``413``, reading no more than needed.

    Parameters
    ----------
    app
        The wrapped ASGI application.
    max_bytes
        The largest request body accepted (multipart overhead included).
    respond
        Builds the ``413`` response for a request (HTML for the page, JSON for the API).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, respond: TooLargeResponder) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.app = app
        self.max_bytes = int(max_bytes)
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = too_large_message(self.max_bytes)
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await self.respond(scope, message)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_bytes:
                    raise UploadTooLarge(message)
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except UploadTooLarge:
            if started:
                raise
            await self.respond(scope, message)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class SecurityHeaders:
    """Add :data:`CSP` and related headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                have = {k.lower() for k, _ in msg.get("headers", [])}
                msg["headers"] = list(msg.get("headers", [])) + [
                    (k, v) for k, v in _HEADERS if k not in have]
            await send(msg)

        await self.app(scope, receive, add_headers)
