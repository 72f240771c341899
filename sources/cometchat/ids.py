"""Whether a uid or guid may be put into a URL path or an `onBehalfOf` header.

CometChat creates uids and guids of at most 100 characters from `a-z 0-9 - _` (lowercased by the server),
but ids in real apps predate that rule, so anything else that is safe once percent-encoded is tolerated
(`.`, `@`, spaces, non-ASCII). What is refused can never be made safe: `.` and `..` are dot segments that
URL parsers remove (`groups/./members` becomes `groups/members`), `/` and `\\` split a path, and control
characters break headers and logs.

    id_problem(value)                 -> None, or why the id cannot be used in a URL path
    id_problem(value, in_header=True) -> the same, also for use as the `onBehalfOf` header
    check_id(value, kind="uid")       -> value, or raises UnsafeIdError naming the id (safely repr'd)
"""

import unicodedata

from .errors import CometChatError

MAX_ID_LENGTH = 100
DOT_SEGMENTS = frozenset({".", ".."})
PATH_SEPARATORS = frozenset("/\\")


class UnsafeIdError(CometChatError, ValueError):
    """A uid or guid that cannot be used in a URL path or header; the message names it, repr'd."""

    def __init__(self, kind: str, value: object, problem: str) -> None:
        self.kind = kind
        self.value = value
        self.problem = problem
        super().__init__(f"{kind} {safe_repr(value)} {problem}")


def id_problem(value: object, *, in_header: bool = False) -> str | None:
    """None when `value` is safe in a URL path (and, with `in_header`, in a header); else the reason."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a string"
    if not value.strip():
        return "is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than the API's {MAX_ID_LENGTH} characters"
    if value in DOT_SEGMENTS:
        return "is a dot segment, which URL paths drop (the request would go to another endpoint)"
    if PATH_SEPARATORS & set(value):
        return "contains a slash, which would split the URL path"
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in value):
        return "contains a control character"
    if in_header and (value != value.strip() or not _latin1(value)):
        return "cannot be sent in an HTTP header (surrounding whitespace or characters outside Latin-1)"
    return None


def check_id(value: object, kind: str = "uid", *, in_header: bool = False) -> str:
    problem = id_problem(value, in_header=in_header)
    if problem is not None:
        raise UnsafeIdError(kind, value, problem)
    return value  # type: ignore[return-value]  # id_problem() proved it a str


def safe_repr(value: object, limit: int = 120) -> str:
    """repr() (which escapes every non-printable character) bounded in length, fit for one log line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
