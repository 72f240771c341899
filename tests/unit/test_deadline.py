"""A whole-response deadline: a body (or headers) trickling a byte at a time is cut off and retried."""

import logging
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from sources.cometchat.client import CometChatClient
from sources.cometchat.credentials import CometChatCredentials
from sources.cometchat.deadline import RequestDeadlineExceeded
from sources.cometchat.errors import CometChatUnreachableError

BODY = b'{"data": {"uid": "u1"}}'
TRICKLE_SECONDS = 0.2  # far below the 60 s per-read timeout: only an overall deadline can stop it


class _TricklingHandler(socketserver.BaseRequestHandler):
    """Trickles its first `server.trickles` answers one byte at a time, then answers at once."""

    def handle(self) -> None:
        self.request.recv(65536)
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            server.served += 1  # type: ignore[attr-defined]
            trickle = server.served <= server.trickles  # type: ignore[attr-defined]
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        answer = head + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
        if not trickle:
            self.request.sendall(answer)
            return
        start = answer.index(b"\r\n\r\n") + 4 if server.where == "body" else 20  # type: ignore[attr-defined]
        self.request.sendall(answer[:start])
        try:
            for byte in answer[start:]:
                time.sleep(TRICKLE_SECONDS)
                self.request.sendall(bytes([byte]))
        except OSError:
            return  # the client gave up, as it should


@pytest.fixture
def trickling_server(request) -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _TricklingHandler)
    server.daemon_threads = True
    server.lock, server.served, server.trickles = threading.Lock(), 0, 1  # type: ignore[attr-defined]
    server.where = request.param  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def make_client(server: socketserver.TCPServer, deadline: float, attempts: int = 8) -> CometChatClient:
    host, port = server.server_address[:2]
    credentials = CometChatCredentials(app_id="a", api_key="k" * 40, base_url=f"http://{host}:{port}/v3")
    return CometChatClient(
        credentials, requests_per_minute=1e6, max_attempts=attempts, request_deadline_seconds=deadline
    )


@pytest.mark.parametrize("trickling_server", ["body", "headers"], indirect=True)
def test_a_trickling_answer_is_cut_at_the_deadline_and_retried(trickling_server, monkeypatch, caplog):
    monkeypatch.setattr("sources.cometchat.client.BACKOFF_FACTOR_SECONDS", 0.0)
    client = make_client(trickling_server, deadline=1.0)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="sources"):
        assert client.get("users/u1") == {"uid": "u1"}
    # Trickled whole, the first answer would take len(answer) * 0.2 s, about 20 s.
    assert time.monotonic() - started < 5
    assert client.stats.retries == 1
    assert any("RequestDeadlineExceeded" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("trickling_server", ["body"], indirect=True)
def test_once_attempts_run_out_the_deadline_ends_as_unreachable(trickling_server, monkeypatch):
    monkeypatch.setattr("sources.cometchat.client.BACKOFF_FACTOR_SECONDS", 0.0)
    trickling_server.trickles = 2
    client = make_client(trickling_server, deadline=0.5, attempts=2)
    with pytest.raises(CometChatUnreachableError) as caught:
        client.get("users/u1")
    assert str(caught.value) == (
        "CometChat is unreachable: GET /v3/users/u1: no complete answer within the 0.5 s deadline "
        "(after 2 attempts)"
    )
    assert isinstance(caught.value.__cause__, RequestDeadlineExceeded)


def test_the_deadline_does_not_cut_a_pooled_connection_after_the_answer(monkeypatch):
    """Answers that finish just before their deadline leave healthy connections in the pool."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _KeepAliveHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = make_client(server, deadline=0.2, attempts=1)
        for _ in range(5):
            assert client.get("users/u1") == {"uid": "u1"}
            time.sleep(0.25)  # each request's deadline passes while its connection idles in the pool
    finally:
        server.shutdown()
        server.server_close()


class _KeepAliveHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while self.request.recv(65536):
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            self.request.sendall(head + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)


LARGE_BODY = b'{"data": {"uid": "u1", "bio": "' + b"x" * 1_000_000 + b'"}}'


class _LargeAnswerHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        self.request.sendall(head + b"Content-Length: %d\r\n\r\n" % len(LARGE_BODY) + LARGE_BODY)


def test_a_large_answer_is_read_in_a_few_large_reads(monkeypatch):
    """requests reads `content` 10 KiB at a time: over a hundred socket reads for a page of messages, each of
    which waits for the GIL again. The adapter reads a megabyte at a time."""
    reads = []
    read_into = socket.SocketIO.readinto

    def counted_read_into(io: socket.SocketIO, buffer: memoryview) -> int | None:
        reads.append(len(buffer))
        return read_into(io, buffer)

    monkeypatch.setattr(socket.SocketIO, "readinto", counted_read_into)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _LargeAnswerHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        body = make_client(server, deadline=30).get("users/u1")
    finally:
        server.shutdown()
        server.server_close()
    assert body == {"uid": "u1", "bio": "x" * 1_000_000}
    assert len(reads) < 20
