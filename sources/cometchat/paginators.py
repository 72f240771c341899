"""Paginators for CometChat's two list styles: page-numbered lists and cursor-paged message lists."""

from typing import Any

from dlt.sources.helpers.rest_client.paginators import BasePaginator, PageNumberPaginator
from requests import Request, Response


class HasMorePaginator(PageNumberPaginator):
    """Page-number lists (`perPage`/`page`), where `meta.pagination.total_pages` is only a has-more flag.

    `total` is not computed by the API, so it is never trusted. Without pagination meta, a short
    or empty page ends the list.
    """

    def __init__(self, page_size: int) -> None:
        super().__init__(base_page=1, page_param="page", total_path=None, stop_after_empty_page=True)
        self.page_size = page_size

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        pagination = (response.json().get("meta") or {}).get("pagination") or {}
        current, total_pages = pagination.get("current_page"), pagination.get("total_pages")
        if not data or len(data) < self.page_size:
            self._has_next_page = False
        elif current is not None and total_pages is not None:
            self._has_next_page = int(total_pages) > int(current)
        self.current_value += 1


class MessageCursorPaginator(BasePaginator):
    """Cursor lists of messages, paged forward in (sentAt, id) order.

    Each next request re-anchors on the last message's second (`fromTimestamp`, the documented recipe)
    and also sends that message's `sentAt`/`id`, as `meta.next` does, so a server that honours the
    anchor never repeats a message. Repeats from one that does not are dropped by the caller.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.sent_at: int | None = None
        self.message_id: str | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        if not data or len(data) < self.limit:
            self._has_next_page = False
            return
        last = data[-1]
        self.sent_at, self.message_id = int(last["sentAt"]), str(last["id"])

    def update_request(self, request: Request) -> None:
        request.params.update(
            {"affix": "append", "fromTimestamp": self.sent_at, "sentAt": self.sent_at, "id": self.message_id}
        )
