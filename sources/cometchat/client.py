"""HTTP client for the CometChat REST API v3: auth, paging, throttling, retries and errors."""

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
from dlt.sources.helpers.requests.retry import retry_if_status, wait_exponential_retry_after
from dlt.sources.helpers.rest_client import RESTClient
from requests import PreparedRequest, Response, Session
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.exceptions import ChunkedEncodingError, ConnectionError, ContentDecodingError, Timeout
from tenacity import RetryCallState, Retrying, retry_any, retry_if_exception_type, stop_after_attempt

from .credentials import CometChatCredentials
from .errors import CometChatApiError, CometChatAuthError, CometChatError, CometChatNotFoundError
from .paginators import HasMorePaginator, MessageCursorPaginator
from .settings import (
    AUTH_ERROR_CODES,
    BACKOFF_FACTOR_SECONDS,
    DEFAULT_REQUESTS_PER_MINUTE,
    MAX_ATTEMPTS,
    MAX_RETRY_DELAY_SECONDS,
    MAX_WORKERS,
    MESSAGE_PAGE_SIZE,
    PAGE_SIZE,
    REQUEST_TIMEOUT_SECONDS,
)
from .throttle import RequestBudget, RequestStats

logger = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)
# A reset connection, a timeout, or a body cut short of its Content-Length.
RETRY_EXCEPTIONS = (ConnectionError, Timeout, ChunkedEncodingError, ContentDecodingError)


def user_path(uid: str, *rest: str) -> str:
    return "/".join(("users", quote(uid, safe=""), *rest))


def group_path(guid: str, *rest: str) -> str:
    return "/".join(("groups", quote(guid, safe=""), *rest))


class ApiKeyAuth(AuthBase):
    """Adds the `apikey` header when the request is prepared, so it never shows in dlt's request logs."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["apikey"] = self._api_key
        return request

    def __repr__(self) -> str:
        return "ApiKeyAuth(apikey=***)"


class _BudgetedAdapter(HTTPAdapter):
    """Takes a slot from the request budget before every attempt and feeds back the rate-limit headers."""

    def __init__(self, budget: RequestBudget, pool_size: int) -> None:
        super().__init__(pool_connections=1, pool_maxsize=pool_size)
        self.budget = budget

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        self.budget.acquire()
        try:
            response = super().send(request, *args, **kwargs)
        except BaseException:
            self.budget.abandon()
            raise
        self.budget.observe(response.status_code, response.headers)
        return response


class CometChatClient:
    """One client per run. Thread-safe: per-viewer fetches share its connection pool and budget."""

    def __init__(
        self,
        credentials: CometChatCredentials,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        max_attempts: int = MAX_ATTEMPTS,
        max_workers: int = MAX_WORKERS,
    ) -> None:
        self.budget = RequestBudget(requests_per_minute)
        self.max_attempts = max_attempts
        self.max_workers = max_workers
        session = Session()
        adapter = _BudgetedAdapter(self.budget, pool_size=max_workers + 2)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.send = self._retrying().wraps(session.send)  # type: ignore[method-assign]
        self._rest = RESTClient(
            base_url=credentials.api_base_url,
            # `appId` is the v2 header; v3 ignores it, the emulator uses it to detect a wrong app id.
            headers={"Accept": "application/json", "appId": credentials.app_id},
            auth=ApiKeyAuth(str(credentials.api_key)),
            session=session,
            data_selector="data",
        )

    @property
    def stats(self) -> RequestStats:
        return self.budget.stats

    def get(self, path: str, params: dict[str, Any] | None = None, on_behalf_of: str | None = None) -> Any:
        response = self._rest.get(
            path,
            params=params,
            headers=_viewer(on_behalf_of),
            hooks=self._hooks(),
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        return response.json().get("data")

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
        self, path: str, params: dict[str, Any] | None = None, on_behalf_of: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a page-number list, at the largest page size."""
        yield from self._rest.paginate(
            path,
            params={**(params or {}), "perPage": PAGE_SIZE},
            headers=_viewer(on_behalf_of),
            paginator=HasMorePaginator(PAGE_SIZE),
            hooks=self._hooks(),
            timeout=REQUEST_TIMEOUT_SECONDS,
        )

    def messages(
        self,
        path: str = "messages",
        params: dict[str, Any] | None = None,
        after: tuple[int, int] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of messages strictly after the `(sentAt, id)` cursor `after`, oldest first, each at most once."""
        query: dict[str, Any] = {"limit": MESSAGE_PAGE_SIZE, "affix": "append", **(params or {})}
        if after is not None:
            query.update(fromTimestamp=after[0], sentAt=after[0], id=str(after[1]))
        else:
            query.setdefault("fromTimestamp", 0)
        cursor = after or (-1, -1)
        pages = self._rest.paginate(
            path,
            params=query,
            paginator=MessageCursorPaginator(MESSAGE_PAGE_SIZE),
            hooks=self._hooks(),
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        for page in pages:
            fresh = [m for m in page if (int(m["sentAt"]), int(m["id"])) > cursor]
            if not fresh and len(page) >= MESSAGE_PAGE_SIZE:
                raise CometChatError(
                    f"GET /{path} returned a full page of messages already seen at sentAt={cursor[0]}: "
                    "the API ignored the id anchor and more than one page of messages share that second"
                )
            if fresh:
                cursor = (int(fresh[-1]["sentAt"]), int(fresh[-1]["id"]))
                yield fresh

    def _hooks(self) -> dict[str, list[Any]]:
        return {"response": [_decode_once, _raise_for_api_error]}

    def _retrying(self) -> Retrying:
        return Retrying(
            retry=retry_any(retry_if_status(RETRY_STATUSES), retry_if_exception_type(RETRY_EXCEPTIONS)),
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
        endpoint = f"{request.method} {request.path_url.split('?')[0]}" if request is not None else "request"
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


def _viewer(on_behalf_of: str | None) -> dict[str, str]:
    return {"onBehalfOf": on_behalf_of} if on_behalf_of else {}


def _decode_once(response: Response, *args: Any, **kwargs: Any) -> None:
    """`response.json()` parses once, with orjson: requests re-parses on every call (dlt's paginator and data
    selector both call it), with simplejson when installed, which is several times slower on 1,000 messages."""
    parsed: list[Any] = []

    def json(**_: Any) -> Any:
        if not parsed:
            parsed.append(orjson.loads(response.content))
        return parsed[0]

    response.json = json  # type: ignore[method-assign]


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
    error_type = CometChatApiError
    if code in AUTH_ERROR_CODES or response.status_code == 401:
        error_type = CometChatAuthError
    elif response.status_code == 404 and code != "ERR_API_NOT_FOUND":
        error_type = CometChatNotFoundError
    raise error_type(
        response.request.method or "GET", endpoint, response.status_code, code, message, response
    )
