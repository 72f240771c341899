"""HTTP/1.1 keep-alive transport: admission (rate limit, latency, faults), auth, routing, JSON out, stats."""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from . import errors
from .admin import Admin, AdminError
from .api import Api, Request
from .config import EmulatorConfig
from .operational import Operations, RequestStats
from .render import Renderer
from .store import Store
from .validation import Params

logger = logging.getLogger("cometchat_emulator")

API_PREFIX = "/v3"
ADMIN_PREFIX = "/__admin"
RESET_STATUS = 0  # stats status of a request answered by a connection reset


class Application:
    """Everything one emulator process serves, independent of the socket layer."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config.validated()
        self.store = Store(config)
        self.renderer = Renderer(self.store)
        self.api = Api(config, self.store, self.renderer)
        self.ops = Operations(config.operational(), config.seed)
        self.stats = RequestStats()
        identity = {"app_id": config.app_id}
        self.admin = Admin(self.store, self.renderer, self.ops, self.stats, identity)


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # connectors open several pooled connections at once

    def __init__(self, app: Application, host: str, port: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        super().__init__((host, port), RequestHandler)

    @property
    def origin(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer

    def version_string(self) -> str:
        return "cometchat-emulator"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY delayed ACKs add ~40 ms per response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests get the JSON envelope too, never the stock HTML page."""
        error = errors.ApiError(code, "ERR_BAD_REQUEST", message or "The request could not be understood.")
        self.close_connection = True
        self._send(code, orjson.dumps(error.envelope()), {})

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # -- dispatch -----------------------------------------------------------------------------------------

    def _handle(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        path = split.path
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            self._handle_admin(path, split.query, body)
        elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            self._handle_api(path, split.query, body)
        else:
            self._send_json(404, errors.api_not_found().envelope(), {})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle_api(self, path: str, query: str, body: bytes) -> None:
        app = self.server.app
        admission = app.ops.admit()
        if admission.latency:
            time.sleep(admission.latency)
        segments = [unquote(part) for part in path[len(API_PREFIX) :].strip("/").split("/")]
        segments = [] if segments == [""] else segments
        route, handler, values = app.api.route(self.command, segments)
        headers = admission.headers()
        request = Request(self.command, path, segments, Params(parse_qs(query)), self.headers, body)

        # Stats are recorded before anything is written, so a client never sees an answer its stats lack.
        if admission.limited:
            error = errors.too_many_requests(admission.retry_after)
            self._record(request, route, error.status)
            self._send_json(error.status, error.envelope(), {**headers, **error.headers})
            return
        if admission.fault is not None:
            app.stats.record_fault(admission.fault)
            if self._inject(admission.fault, request, route, headers):
                return

        try:
            app.api.authenticate(self.headers)
            if handler is None:
                raise errors.api_not_found()
            with app.store.lock:
                payload = handler(request, values)
            status = 200
        except errors.ApiError as error:
            status, payload = error.status, error.envelope()
            headers.update(error.headers)
        except Exception:
            logger.exception("unhandled error in %s %s", self.command, path)
            status, payload = 500, errors.server_fault(500).envelope()

        encoded = orjson.dumps(payload)
        self._record(request, route, status)
        if admission.fault == "truncate":
            self._send_truncated(status, encoded, headers)
        else:
            self._send(status, encoded, headers)

    def _record(self, request: Request, route: str, status: int) -> None:
        stats = self.server.app.stats
        stats.record(request.method, route, status)
        if request.method == "PUT":
            stats.record_put(request.path, request.on_behalf_of, _loads_or_text(request.body), status)

    def _inject(self, fault: str, request: Request, route: str, headers: dict[str, str]) -> bool:
        """Apply an injected fault; True when it answered and the request must not be processed."""
        if fault in ("500", "502", "503"):
            error = errors.server_fault(int(fault))
        elif fault == "429":
            error = errors.too_many_requests(1)
        elif fault == "reset":
            self._record(request, route, RESET_STATUS)
            self._reset_connection()
            return True
        else:
            if fault == "slow":
                time.sleep(self.server.app.ops.slow_seconds)
            return False
        self._record(request, route, error.status)
        self._send_json(error.status, error.envelope(), {**headers, **error.headers})
        return True

    def _handle_admin(self, path: str, query: str, body: bytes) -> None:
        segments = [unquote(part) for part in path[len(ADMIN_PREFIX) :].strip("/").split("/") if part]
        try:
            parsed = orjson.loads(body) if body else None
            answer = self.server.app.admin.handle(self.command, segments, parse_qs(query), parsed)
        except orjson.JSONDecodeError:
            self._send_json(400, {"error": "body must be JSON"}, {})
            return
        except AdminError as error:
            self._send_json(error.status, {"error": error.message}, {})
            return
        if isinstance(answer, Iterator):
            self._send_chunked(200, answer)
        else:
            self._send_json(200, answer, {})

    # -- writing ------------------------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        self._send(status, orjson.dumps(payload), headers)

    def _start(self, status: int, headers: dict[str, str], length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self._start(status, headers, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_chunked(self, status: int, chunks: Iterator[bytes]) -> None:
        self._start(status, {}, None)
        for chunk in chunks:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def _send_truncated(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        """Announce the full Content-Length, send part of the body, then close the connection."""
        self._start(status, headers, len(body))
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True

    def _reset_connection(self) -> None:
        """Close abruptly: SO_LINGER 0 turns close() into a TCP RST, so the client sees a reset."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # rfile holds a reference on the socket; the descriptor only closes once every reference is gone.
        self.rfile.close()
        self.connection.close()


def _loads_or_text(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")
