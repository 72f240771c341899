"""Constants of the CometChat REST API v3 and of this connector."""

from typing import Final

REGIONS: Final = ("us", "eu", "in")
DEFAULT_REGION: Final = "us"
BASE_URL_TEMPLATE: Final = "https://{app_id}.api-{region}.cometchat.io/v3"
# How the example values of .dlt/secrets.toml.example and those `dlt init` writes begin; never sent.
PLACEHOLDER_PREFIXES: Final = ("your-", "<configure me>")

# The free "Build" plan allows 500 requests per minute; paid plans 20,000
# (https://www.cometchat.com/docs/rest-api/rate-limits).
DEFAULT_REQUESTS_PER_MINUTE: Final = 500

# Largest page the API serves: perPage for page-number lists, limit for message lists.
PAGE_SIZE: Final = 1000
MESSAGE_PAGE_SIZE: Final = 1000
# The first message request starts here: `fromTimestamp=0` may count as "no anchor" (the Android SDK refuses a
# timestamp that is not positive), and `append` without an anchor may start at the newest page.
FIRST_TIMESTAMP: Final = 1
# Larger than any message id: `(second, LAST_ID)` is a cursor after every message of that second.
LAST_ID: Final = 2**63 - 1
# How a run picks up later edits, deletes, reactions and reply counts of messages it loaded before:
# "updates" asks `GET /messages?updatedAt=...&onlyUpdates=1` (one request when nothing changed),
# "lookback" re-reads the last `message_lookback_seconds` of messages, "none" relies on action messages only.
LATE_CHANGES_MODES: Final = ("updates", "lookback", "none")
DEFAULT_LATE_CHANGES: Final = "updates"
DEFAULT_LOOKBACK_SECONDS: Final = 7 * 86_400
# A conversation list whose rows move while it is read (ordered by updatedAt) is read again, at most this often.
MAX_LIST_PASSES: Final = 3

# run.py loads messages in slices of about this many, one load package each, so that a capped DuckDB's merge
# works on one slice at a time (a single package of 1M messages does not fit its 512 MB), and a slice's package
# loads while the next slice is read: a history of 200,000 messages is then two slices, one of them overlapped.
MESSAGES_PER_LOAD: Final = 100_000

# Each socket operation (connect, every read) may take this long...
REQUEST_TIMEOUT_SECONDS: Final = 60.0
# ...and the whole response this long; on expiry the request is retried like a timeout. A 1,000-row page
# takes well under a second, so this only ever cuts off an answer that trickles or stalls.
REQUEST_DEADLINE_SECONDS: Final = 120.0
MAX_ATTEMPTS: Final = 8
BACKOFF_FACTOR_SECONDS: Final = 0.5
MAX_RETRY_DELAY_SECONDS: Final = 90.0

# A backlog of messages is cut into this many time windows, read concurrently (as many as `max_workers`, so that
# every window is under way from the start and they end together)...
DEFAULT_BACKFILL_WINDOWS: Final = 8
# ...each at least this long: a shorter backlog is read by the one sequential cursor.
MIN_WINDOW_SECONDS: Final = 3600
# The windows are read on this many connections at first (more where the first answers are slow); more, up to
# `max_workers`, while the loader waits on the API's answers. Four keep two cores busy where the API answers
# fast; more only add contention.
WINDOW_READERS: Final = 4

# Concurrent requests (the message windows, lists read ahead, per-viewer fetches, the reverse ETL's PUTs); the
# rate budget still applies. Eight, for the message windows at 150 ms a request: four made 0.62 to 0.67 of the
# load's CPU ceiling, eight 0.75 to 0.90, eight taking turns among the windows 0.79 to 1.05 (docs/performance.md,
# rounds 22 and 23; the target is 0.8). Sixteen (with sixteen windows) halved the loader's waits for pages but
# made no faster load: every connection's thread costs the loader's own thread CPU (round 24).
MAX_WORKERS: Final = 8
# The app-wide lists ask for at most this many pages at once (fewer where `max_workers` is lower): each read
# costs up to one request fewer than that past the list's end, and eight already keep a list's pages ahead of the
# loader at 150 ms (`pipelines.bench.list_pages`); with `max_workers` at sixteen, lists read sixteen at a time
# made a no-change re-run at 1M 84 requests, not 60 (round 24).
LIST_PAGES_AHEAD: Final = 8

# Error codes that mean the credentials or the app id are wrong: the run stops at once.
AUTH_ERROR_CODES: Final = frozenset(
    {
        "AUTH_ERR_EMPTY_APPID",
        "AUTH_ERR_INVALID_APPID",
        "AUTH_ERR_EMPTY_APIKEY",
        "AUTH_ERR_APIKEY_NOT_FOUND",
        "AUTH_ERR_NO_ACCESS",
    }
)
# A user or group that vanished while the run was going on.
GONE_ERROR_CODES: Final = frozenset({"ERR_UID_NOT_FOUND", "ERR_GUID_NOT_FOUND"})

RESOURCE_NAMES: Final = (
    "users",
    "groups",
    "group_members",
    "user_conversations",
    "group_conversations",
    "messages",
)
