"""HTTP client for the CometChat REST API v3: auth, paging, throttling, retries and errors."""

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import orjson
from dlt.common.jsonpath import compile_path
from dlt.sources.helpers.requests.retry import retry_if_status, wait_exponential_retry_after
from dlt.sources.helpers.rest_client import RESTClient
from requests import PreparedRequest, Response, Session
from requests.auth import AuthBase
from tenacity import RetryCallState, Retrying, retry_any, retry_if_exception, stop_after_attempt

from .credentials import CometChatCredentials, check_credentials
from .deadline import DeadlineAdapter
from .errors import (
    CometChatApiError,
    CometChatAuthError,
    CometChatError,
    CometChatNotFoundError,
    CometChatUnreadableError,
)
from .failures import RETRY_EXCEPTIONS, can_heal, endpoint_of, unreachable
from .ids import check_id
from .lean_json import Decode
from .message_structs import decode_message_page
from .pages_ahead import pages_ahead
from .paginators import HasMorePaginator, MessageCursorPaginator
from .redaction import redact, register_secret
from .settings import (
    AUTH_ERROR_CODES,
    BACKOFF_FACTOR_SECONDS,
    DEFAULT_REQUESTS_PER_MINUTE,
    FIRST_TIMESTAMP,
    LIST_PAGES_AHEAD,
    MAX_ATTEMPTS,
    MAX_RETRY_DELAY_SECONDS,
    MAX_WORKERS,
    MESSAGE_PAGE_SIZE,
    PAGE_SIZE,
    REQUEST_DEADLINE_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    WINDOW_READERS,
)
from .shaping import as_rows
from .throttle import RequestBudget, RequestStats

logger = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)


def user_path(uid: str, *rest: str) -> str:
    """`users/{uid}/...`; raises UnsafeIdError for an id that cannot be a path segment (see ids.py)."""
    return "/".join(("users", quote(check_id(uid, "uid"), safe=""), *rest))


def group_path(guid: str, *rest: str) -> str:
    """`groups/{guid}/...`; raises UnsafeIdError for an id that cannot be a path segment (see ids.py)."""
    return "/".join(("groups", quote(check_id(guid, "guid"), safe=""), *rest))


class ApiKeyAuth(AuthBase):
    """Adds the `apikey` header when the request is prepared, so it never shows in dlt's request logs."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["apikey"] = self._api_key
        return request

    def __repr__(self) -> str:
        return "ApiKeyAuth(apikey=***)"


class _BudgetedAdapter(DeadlineAdapter):
    """Takes a slot from the request budget before every attempt and feeds back the rate-limit headers."""

    def __init__(self, budget: RequestBudget, pool_size: int, deadline_seconds: float) -> None:
        # Blocking: a request waits for a free connection rather than opening one more that the pool then
        # discards with a warning (the message windows, lists read ahead and dlt's deferred member reads overlap).
        super().__init__(deadline_seconds, pool_connections=1, pool_maxsize=pool_size, pool_block=True)
        self.budget = budget

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        self.budget.acquire()
        sent = time.monotonic()
        try:
            response = super().send(request, *args, **kwargs)
        except BaseException:
            self.budget.abandon()
            raise
        self.budget.observe(response.status_code, response.headers, time.monotonic() - sent)
        return response


class CometChatClient:
    """One client per run. Thread-safe: per-viewer fetches share its connection pool and budget."""

    def __init__(
        self,
        credentials: CometChatCredentials,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        max_attempts: int = MAX_ATTEMPTS,
        max_workers: int = MAX_WORKERS,
        request_deadline_seconds: float = REQUEST_DEADLINE_SECONDS,
    ) -> None:
        check_credentials(credentials)
        self.credentials = credentials
        register_secret(str(credentials.api_key))
        self.budget = RequestBudget(requests_per_minute)
        self.max_attempts = max_attempts
        self.max_workers = max_workers
        # Connections the message windows are read on; more once the API is seen to answer slowly (windows.py).
        self.window_readers = min(WINDOW_READERS, max_workers)
        self.request_deadline_seconds = request_deadline_seconds
        session = Session()
        adapter = _BudgetedAdapter(self.budget, max_workers + 2, request_deadline_seconds)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.send = self._sending(session.send)  # type: ignore[method-assign]
        self._rest = RESTClient(
            base_url=credentials.api_base_url,
            # `appId` is the v2 header; v3 ignores it, the emulator uses it to detect a wrong app id.
            headers={"Accept": "application/json", "appId": credentials.app_id},
            auth=ApiKeyAuth(str(credentials.api_key)),
            session=session,
            # Compiled once: a path given as text is parsed again, into a new parser, for every page.
            data_selector=compile_path("data"),
        )

    def read_windows_on(self, readers: int) -> None:
        """The message windows are read on `readers` connections from now on, the later slices of a run too."""
        self.window_readers = min(readers, self.max_workers)

    def answers(self) -> tuple[int, float]:
        """The API's answers so far, and the seconds they took (from sending a request to its response's
        headers), summed over threads."""
        stats = self.stats
        return stats.answers, stats.answer_seconds

    @property
    def stats(self) -> RequestStats:
        return self.budget.stats

    def get(self, path: str, params: dict[str, Any] | None = None, on_behalf_of: str | None = None) -> Any:
        return self.get_body(path, params, on_behalf_of).get("data")

    def get_body(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        on_behalf_of: str | None = None,
        decode: Decode = orjson.loads,
    ) -> dict[str, Any]:
        """The whole JSON answer, `meta` included; `decode` parses a successful answer (see lean_json.py)."""
        response = self._rest.get(
            path,
            params=params,
            headers=_viewer(on_behalf_of),
            hooks=self._hooks(decode),
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        return response.json()

    def put(self, path: str, body: dict[str, Any], on_behalf_of: str | None = None) -> Any:
        response = self._rest.request(
            path,
            method="PUT",
            json=body,
            headers=_viewer(on_behalf_of),
            hooks=self._hooks(),
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        return response.json().get("data")

    def pages(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        on_behalf_of: str | None = None,
        ahead: bool = False,
        decode: Decode = orjson.loads,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a page-number list, asked at the largest page size, until the API says no more.

        `ahead`: up to `min(max_workers, LIST_PAGES_AHEAD)` pages are asked for at once (`pages_ahead.py`), for
        the long app-wide lists; this costs up to one request fewer than that past the list's end. `decode`: as
        for `get_body`.
        """
        if ahead:
            query = {**(params or {}), "perPage": PAGE_SIZE}
            yield from pages_ahead(
                lambda page: self.get_body(path, {**query, "page": page}, on_behalf_of, decode),
                min(self.max_workers, LIST_PAGES_AHEAD),
            )
            return
        pages = self._rest.paginate(
            path,
            params={**(params or {}), "perPage": PAGE_SIZE},
            headers=_viewer(on_behalf_of),
            paginator=HasMorePaginator(),
            hooks=self._hooks(decode),
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        for page in pages:
            rows = as_rows(page.response.json().get("data"))
            if rows:
                yield rows

    def messages(
        self,
        path: str = "messages",
        params: dict[str, Any] | None = None,
        after: tuple[int, int] | None = None,
        start: int = FIRST_TIMESTAMP,
        until: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of messages strictly after the `(sentAt, id)` cursor `after` (else from the second `start`),
        oldest first, each at most once; with `until`, only those sent before that second.

        `toTimestamp` is documented only as the "end time": it is sent as `until`, the messages sent at or
        after `until` are dropped here and the read stops at the first of them, which is exact whether the
        server reads it as inclusive, exclusive, or ignores it.

        The read ends on an empty page or on one that brings nothing new, never on a short page: a server may
        serve fewer than the `limit` asked for. Anchors are exact whether the server reads them as inclusive
        or exclusive, and whether it honours `id` or not (see MessageCursorPaginator).
        """
        query: dict[str, Any] = {"limit": MESSAGE_PAGE_SIZE, "affix": "append", **(params or {})}
        if after is not None:
            query.update(fromTimestamp=after[0], id=str(after[1]))
        else:
            query["fromTimestamp"] = max(start, FIRST_TIMESTAMP)
        if until is not None:
            query["toTimestamp"] = until
        cursor = after or (-1, -1)
        # The server's real page size: the longest page that more pages followed (it may cap `limit`).
        served, previous = 0, 0
        pages = self._rest.paginate(
            path,
            params=query,
            paginator=MessageCursorPaginator(),
            hooks=self._hooks(decode_message_page),
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        for page in pages:
            fresh = _after_cursor(page, cursor)
            if not fresh:
                only_anchor = all(int(m["id"]) == cursor[1] for m in page)  # an inclusive anchor at the end
                same_second = all(int(m["sentAt"]) == cursor[0] for m in page)
                if served and len(page) >= served and same_second and not only_anchor:
                    raise CometChatError(
                        f"GET /{path} returned only messages already seen, all at sentAt={cursor[0]}, in a "
                        f"full page of {len(page)}: the API ignores the id anchor and more than a page of "
                        "messages share that second, so the rest of it cannot be reached"
                    )
                return
            served, previous = max(served, previous), len(page)
            cursor = (int(fresh[-1]["sentAt"]), int(fresh[-1]["id"]))
            if until is not None and cursor[0] >= until:
                inside = [m for m in fresh if int(m["sentAt"]) < until]
                if inside:
                    yield inside
                return
            yield fresh

    def newest_message(self, path: str = "messages") -> dict[str, Any] | None:
        """The newest message (one request), or None when there is none."""
        rows = as_rows(self.get(path, {"limit": 1, "affix": "prepend"}))
        return rows[-1] if rows else None

    def _hooks(self, decode: Decode = orjson.loads) -> dict[str, list[Any]]:
        return {"response": [_decoding_once(decode), _raise_for_api_error, _require_envelope]}

    def _sending(self, send: Callable[..., Response]) -> Callable[..., Response]:
        """`send` with bounded retries; a request that never got an answer ends as CometChatUnreachableError."""
        retrying = self._retrying()

        def send_or_explain(request: PreparedRequest, **kwargs: Any) -> Response:
            try:
                # A copy per request: the session is shared by threads, and tenacity 9.1+ shares one statistics
                # dict among all calls of a `wraps`-wrapped function (a retry on one thread met a KeyError when
                # another request cleared it).
                return retrying.copy()(send, request, **kwargs)
            except RETRY_EXCEPTIONS as error:
                attempts = self.max_attempts if can_heal(error) else 1
                raise unreachable(request, error, attempts) from error

        return send_or_explain

    def _retrying(self) -> Retrying:
        return Retrying(
            retry=retry_any(retry_if_status(RETRY_STATUSES), retry_if_exception(can_heal)),
            wait=wait_exponential_retry_after(multiplier=BACKOFF_FACTOR_SECONDS, max=MAX_RETRY_DELAY_SECONDS),
            stop=stop_after_attempt(self.max_attempts),
            before_sleep=self._before_retry,
            reraise=True,
        )

    def _before_retry(self, state: RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        error = state.outcome.exception() if state.outcome else None
        response: Response | None = getattr(error, "response", None)
        if response is not None and response.status_code == 429:
            self.budget.hold(wait)
        request = state.args[0] if state.args else None
        endpoint = endpoint_of(request)
        reason = f"HTTP {response.status_code}" if response is not None else type(error).__name__
        self.budget.record_retry(wait)
        logger.warning(
            "%s: %s, retry %d of %d in %.1f s",
            endpoint,
            reason,
            state.attempt_number,
            self.max_attempts - 1,
            wait,
        )


def _after_cursor(page: list[dict[str, Any]], cursor: tuple[int, int]) -> list[dict[str, Any]]:
    """The messages of a page after the `(sentAt, id)` cursor, in page order. The id is read only for those
    sent in the cursor's second: most of a page is later, and the ids come as text."""
    second, last_id = cursor
    return [
        m for m in page if (sent := int(m["sentAt"])) > second or (sent == second and int(m["id"]) > last_id)
    ]


def _viewer(on_behalf_of: str | None) -> dict[str, str]:
    return {"onBehalfOf": on_behalf_of} if on_behalf_of else {}


def _decoding_once(decode: Decode) -> Callable[..., None]:
    """A hook by which `response.json()` parses once, with `decode` if the answer is a success (else with orjson):
    requests re-parses on every call (dlt's paginator and data selector both call it), with simplejson when
    installed, which is several times slower on 1,000 messages."""

    def decode_once(response: Response, *args: Any, **kwargs: Any) -> None:
        parsed: list[Any] = []
        parse = decode if response.status_code < 400 else orjson.loads

        def json(**_: Any) -> Any:
            if not parsed:
                parsed.append(parse(response.content))
            return parsed[0]

        response.json = json  # type: ignore[method-assign]

    return decode_once


def _raise_for_api_error(response: Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = str(error.get("code") or f"HTTP_{response.status_code}")
    message = str(error.get("message") or response.reason or "")
    details = error.get("details")
    if details:
        message = f"{message} {details}"
    endpoint = response.request.path_url.split("?")[0]
    message = redact(message)  # an API that echoes the request must not carry the key into logs or traces
    error_type = CometChatApiError
    if code in AUTH_ERROR_CODES or response.status_code == 401:
        error_type = CometChatAuthError
    elif response.status_code == 404 and code != "ERR_API_NOT_FOUND":
        error_type = CometChatNotFoundError
    raise error_type(
        response.request.method or "GET", endpoint, response.status_code, code, message, response
    )


def _require_envelope(response: Response, *args: Any, **kwargs: Any) -> None:
    """A success must be the API's JSON object with `data`; anything else (an HTML page, cut or malformed
    JSON) is an unreadable answer, never an empty page."""
    if response.status_code >= 400:
        return
    method, endpoint = response.request.method or "GET", response.request.path_url.split("?")[0]
    try:
        payload = response.json()
    except ValueError as error:
        kind = response.headers.get("Content-Type") or "no Content-Type"
        problem = (
            f"malformed JSON ({getattr(error, 'msg', 'not JSON')}; {kind}, {len(response.content)} bytes)"
        )
        raise CometChatUnreadableError(method, endpoint, response.status_code, problem) from None
    if not isinstance(payload, dict) or "data" not in payload:
        shape = (
            f"an object with keys {sorted(payload)[:5]}"
            if isinstance(payload, dict)
            else type(payload).__name__
        )
        problem = f"JSON that is not the API's envelope (no `data`; got {shape})"
        raise CometChatUnreadableError(method, endpoint, response.status_code, problem)
    # Parsed once: dlt's paginator and data selector call response.json() again for every page.
    response.json = lambda **_: payload  # type: ignore[method-assign]
