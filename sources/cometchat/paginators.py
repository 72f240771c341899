"""Paginators for CometChat's two list styles: page numbers (`perPage`/`page`) and message cursors."""

from typing import Any

from dlt.sources.helpers.rest_client.paginators import BasePaginator, PageNumberPaginator
from requests import Request, Response

from .shaping import as_rows


class HasMorePaginator(PageNumberPaginator):
    """Page-number lists (`perPage`/`page`), read until the API says there is nothing more.

    `meta.pagination.total_pages` is only a has-more flag (`total` is never computed), so it alone decides.
    A short page does not end the list: a server may serve fewer rows than `perPage` asked for. Without
    pagination meta, only an empty page ends it.
    """

    def __init__(self) -> None:
        super().__init__(base_page=1, page_param="page", total_path=None, stop_after_empty_page=True)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        self._has_next_page = has_more_pages(response.json())
        self.current_value += 1


def has_more_pages(body: dict[str, Any]) -> bool:
    """Whether a page-number list goes on after this answer: no when it is empty or its pagination says so."""
    pagination = (body.get("meta") or {}).get("pagination") or {}
    current, total_pages = pagination.get("current_page"), pagination.get("total_pages")
    if not as_rows(body.get("data")):
        return False
    if current is not None and total_pages is not None:
        return int(total_pages) > int(current)
    return True


class MessageCursorPaginator(BasePaginator):
    """Cursor lists of messages, paged forward in (sentAt, id) order until an empty page.

    The next request anchors on the last message: `fromTimestamp` at its second (inclusive, the documented
    recipe) and `id` after it. No `sentAt` is sent: a server that ignores `id` and reads `sentAt` as strictly
    after that second would skip the rest of it. Repeats (an inclusive or ignored `id`) are dropped by the
    caller, which also ends the read when a page brings nothing new.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sent_at: int | None = None
        self.message_id: str | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        if not data:
            self._has_next_page = False
            return
        last = data[-1]
        self.sent_at, self.message_id = int(last["sentAt"]), str(last["id"])

    def update_request(self, request: Request) -> None:
        request.params.pop("sentAt", None)
        request.params.update({"affix": "append", "fromTimestamp": self.sent_at, "id": self.message_id})
