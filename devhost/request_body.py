"""An HTTP request's body, read from the connection only when the function first asks for it.

A request the app refuses before that (no key, unknown route) is never buffered, and the size
limit is checked before every read, so neither a 300 MB Content-Length nor one chunk of
`FFFFFFFFFF` bytes costs memory. Framing errors (a bad Content-Length, malformed chunks, a body
shorter than announced) raise `Aborted`, which the server answers with an error envelope before
closing the connection: the bytes that follow are never parsed as another request."""
from __future__ import annotations

import re
import socket
import time
from email.message import Message
from typing import BinaryIO, Callable

MAX_BODY = 100 * 1024 * 1024     # the Functions host's request size limit
DRAIN_LIMIT = 64 * 1024          # an unread body up to this size is skipped, keeping the connection
MAX_LINE = 1024                  # a chunk-size or trailer line
MAX_TRAILERS = 32
LINGER_SECONDS = 2.0
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class Aborted(BaseException):
    """The request cannot be served: its framing is malformed or its body too large.

    A BaseException, like a cancelled invocation, so that the app's `except Exception` (which
    answers 500) does not catch it: the server answers `status` and closes the connection."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _malformed(what: str) -> Aborted:
    return Aborted(400, f"Malformed request: {what}.")


def _too_large() -> Aborted:
    return Aborted(413, f"The request body is too large (more than {MAX_BODY} bytes).")


class RequestBody:
    """`read()` the whole body (at most MAX_BODY bytes); `finish()` after the response says
    whether the connection can serve another request."""

    def __init__(self, rfile: BinaryIO, headers: Message, send_continue: Callable[[], None]):
        self._rfile = rfile
        # A client that sent "Expect: 100-continue" waits for it before sending the body.
        self._send_continue = send_continue
        self._awaits_continue = (headers.get("Expect") or "").lower() == "100-continue"
        self._data: bytes | None = None
        self.chunked, self.length = _framing(headers)

    @property
    def empty(self) -> bool:
        return not self.chunked and self.length == 0

    def read(self) -> bytes:
        if self._data is None:
            if self.empty:
                self._data = b""
            else:
                if self._awaits_continue:
                    self._send_continue()
                try:
                    self._data = self._read_chunked() if self.chunked else self._read_exactly(
                        self.length)
                except OSError:  # a timeout or reset while the client sends
                    raise Aborted(408, "The request body did not arrive in time.") from None
        return self._data

    def finish(self) -> bool:
        """After the response: skip a small unread body; False when the connection must close
        because the body is still (partly) unread."""
        if self._data is not None or self.empty:
            return True
        if self.chunked or self.length > DRAIN_LIMIT or self._awaits_continue:
            return False
        try:
            return len(self._rfile.read(self.length)) == self.length
        except OSError:
            return False

    def _read_exactly(self, size: int) -> bytes:
        data = self._rfile.read(size)
        if len(data) < size:
            raise _malformed("the body is shorter than its Content-Length")
        return data

    def _line(self) -> bytes:
        line = self._rfile.readline(MAX_LINE)
        if not line.endswith(b"\n"):
            raise _malformed("bad chunked encoding")
        return line.rstrip(b"\r\n")

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise _malformed("bad chunk size")
            size = int(size_text, 16)
            if len(body) + size > MAX_BODY:
                raise _too_large()
            if size == 0:
                self._skip_trailers()
                return bytes(body)
            body += self._read_exactly(size)
            if self._line():
                raise _malformed("a chunk is longer than its size")

    def _skip_trailers(self) -> None:
        for _ in range(MAX_TRAILERS):
            if not self._line():
                return
        raise _malformed("too many trailers")


def _framing(headers: Message) -> tuple[bool, int]:
    """(chunked, Content-Length) from the headers, refusing anything ambiguous."""
    encodings = headers.get_all("Transfer-Encoding") or []
    lengths = {value.strip() for value in headers.get_all("Content-Length") or []}
    if encodings:
        if [e.strip().lower() for e in encodings] != ["chunked"]:
            raise _malformed("only the chunked Transfer-Encoding is supported")
        if lengths:   # both: a request smuggling attempt, or a broken proxy
            raise _malformed("both Content-Length and Transfer-Encoding")
        return True, 0
    if not lengths:
        return False, 0
    if len(lengths) > 1 or not _CONTENT_LENGTH.fullmatch(next(iter(lengths)).encode()):
        raise _malformed("bad Content-Length")
    length = int(next(iter(lengths)))
    if length > MAX_BODY:
        raise _too_large()
    return False, length


def linger(connection: socket.socket) -> None:
    """Close after an answer sent before the body was read: stop writing, then discard what the
    client still sends for a moment, so that it reads the answer instead of a reset."""
    try:
        connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            connection.settimeout(left)
            if not connection.recv(64 * 1024):
                return
    except OSError:
        pass
