"""ASGI middleware and limits of the web app: body size and pace, parallel work, headers.

:class:`UploadLimit` enforces the size limit on request bodies while they stream in: a request
whose ``Content-Length`` is over the limit is answered ``413`` before any of its body is read,
and a body without a length (chunked) is counted as it arrives and stopped at the first chunk
that takes it over the limit, so a 100 MB upload never sits in memory or on disk.
:class:`BodyDeadline` answers ``408`` to a client that sends its body slower than a floor rate
or for longer than a deadline, so a slow client cannot hold the server's attention.
:class:`Gate` caps the requests being parsed and predicted at once, with a short bounded
queue; beyond it requests are refused at once (``503`` with ``Retry-After``).
:class:`SecurityHeaders` adds a Content-Security-Policy that lets pages load nothing from other
machines and run no inline script (the page's script is the app's own ``/static/page.js``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: Builds the error response to a request: ``(scope, status, message) -> ASGI app``.
Responder = Callable[[Scope, int, str], ASGIApp]

#: Content-Security-Policy of every response: scripts only from the app itself (no inline
#: script, no ``eval``), inline CSS, images from the app or ``data:`` URLs, nothing from any
#: other origin.
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
       "script-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
_HEADERS = [(b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-store")]


class BodyRefused(Exception):
    """A request body the app stops reading; ``status`` is the answer (413 or 408)."""

    status = 400


class UploadTooLarge(BodyRefused):
    """A request body went over the upload limit (raised by the counting ``receive``)."""

    status = 413


class UploadTimeout(BodyRefused):
    """A request body came in too slowly (raised by the timed ``receive``)."""

    status = 408


def too_large_message(limit: int) -> str:
    """The message of a ``413`` answer for a limit of ``limit`` bytes."""
    size = f"{limit / 2**20:.3g} MB" if limit >= 2**20 else f"{limit} bytes"
    return (f"upload too large: the files of one request may hold at most {size} in all "
            "(the limit is set with mspectmol serve --max-upload-mb)")


def too_slow_message(timeout: float, min_rate: float) -> str:
    """The message of a ``408`` answer."""
    return (f"upload too slow: the request body must arrive within {timeout:g} s, at "
            f"{min_rate / 1024:g} KB/s or faster; the upload was stopped")


def _wrap_send(send: Send, state: dict[str, bool]) -> Send:
    async def tracking_send(msg: Message) -> None:
        if msg["type"] == "http.response.start":
            state["started"] = True
        await send(msg)

    return tracking_send


class UploadLimit:
    """Refuse request bodies over ``max_bytes`` with ``413``, reading no more than needed.

    Parameters
    ----------
    app
        The wrapped ASGI application.
    max_bytes
        The largest request body accepted (multipart overhead included).
    respond
        Builds the error response for a request (HTML for the page, JSON for the API).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, respond: Responder) -> None:
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
            await self.respond(scope, 413, message)(scope, receive, send)
            return
        received = 0
        state = {"started": False}

        async def counting_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_bytes:
                    raise UploadTooLarge(message)
            return msg

        try:
            await self.app(scope, counting_receive, _wrap_send(send, state))
        except UploadTooLarge:
            if state["started"]:
                raise
            await self.respond(scope, 413, message)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyDeadline:
    """Answer ``408`` when a request body arrives too slowly.

    The clock starts when the app first asks for the body. The whole body must arrive
    within ``timeout`` seconds, and after the first ``grace`` seconds at an average of at
    least ``min_rate`` bytes per second: each received byte buys ``1 / min_rate`` seconds of
    waiting, so a client that trickles a few bytes now and then runs out of time.

    Parameters
    ----------
    app
        The wrapped ASGI application.
    timeout
        Seconds the whole body may take.
    min_rate
        Bytes per second the body must average after ``grace``.
    grace
        Seconds allowed before the rate counts (a slow start, a small body).
    respond
        Builds the error response for a request.
    """

    def __init__(self, app: ASGIApp, timeout: float, min_rate: float, grace: float,
                 respond: Responder) -> None:
        if not (timeout > 0 and min_rate > 0 and grace >= 0):
            raise ValueError("timeout and min_rate must be positive, grace non-negative")
        self.app = app
        self.timeout = float(timeout)
        self.min_rate = float(min_rate)
        self.grace = float(grace)
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = too_slow_message(self.timeout, self.min_rate)
        loop = asyncio.get_running_loop()
        start: float | None = None
        received = 0
        done = False
        state = {"started": False}

        async def timed_receive() -> Message:
            nonlocal start, received, done
            if done:  # the body is in: waiting for a disconnect is not limited
                return await receive()
            now = loop.time()
            if start is None:
                start = now
            end = min(start + self.timeout, start + self.grace + received / self.min_rate)
            if end <= now:
                raise UploadTimeout(message)
            try:
                msg = await asyncio.wait_for(receive(), end - now)
            except asyncio.TimeoutError:
                raise UploadTimeout(message) from None
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                done = not msg.get("more_body", False)
            else:
                done = True
            return msg

        try:
            await self.app(scope, timed_receive, _wrap_send(send, state))
        except UploadTimeout:
            if state["started"]:
                raise
            await self.respond(scope, 408, message)(scope, receive, send)


class GateFull(Exception):
    """Every slot of a :class:`Gate` and of its queue is taken."""


class Gate:
    """At most ``limit`` holders at once, ``queue`` more waiting, the rest refused.

    Used as ``async with gate.slot(): ...`` from one event loop at a time (not
    thread-safe; plain counters, so it works under any loop).

    Parameters
    ----------
    limit
        Requests parsed and predicted at the same time.
    queue
        Requests that may wait for a slot; one more is refused with :class:`GateFull`.
    wait
        Seconds a request waits in the queue before it is refused.
    """

    def __init__(self, limit: int, queue: int = 0, wait: float = 60.0) -> None:
        if limit < 1 or queue < 0 or wait <= 0:
            raise ValueError(f"bad gate: limit {limit}, queue {queue}, wait {wait}")
        self.limit = int(limit)
        self.queue = int(queue)
        self.wait = float(wait)
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Requests in the queue now."""
        return sum(not w.done() for w in self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue if there is room there.

        Raises
        ------
        GateFull
            The queue is full, or the wait ran out.
        """
        if self.active < self.limit and not self.waiting:
            self.active += 1
            return
        if self.waiting >= self.queue:
            raise GateFull(f"busy: {self.active} requests are being processed and "
                           f"{self.waiting} are waiting")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, self.wait)
        except asyncio.TimeoutError:
            self._abandon(waiter)
            raise GateFull(f"busy: no slot came free in {self.wait:g} s") from None
        except asyncio.CancelledError:  # the client went away while waiting
            self._abandon(waiter)
            raise

    def _abandon(self, waiter: asyncio.Future[None]) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        if waiter.done() and not waiter.cancelled():  # handed a slot just now: pass it on
            self.release()
        else:
            waiter.cancel()

    def release(self) -> None:
        """Give a slot back: to the first waiter, else free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; ``active`` is unchanged
                return
        self.active -= 1

    def slot(self) -> _Slot:
        """``async with gate.slot():`` holds a slot for the block."""
        return _Slot(self)


class _Slot:
    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    async def __aenter__(self) -> None:
        await self.gate.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.gate.release()


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
