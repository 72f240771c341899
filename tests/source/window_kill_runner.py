"""`python window_kill_runner.py N PIPELINES_DIR DATABASE`: loads the messages of the emulator named by the
`SOURCES__COMETCHAT__CREDENTIALS__*` variables in slices of 100 through `run_load`, and SIGKILLs itself once
the N-th page of a time window has been taken in: mid-slice, in the middle of a backfill."""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import dlt

from pipelines.loading import build_pipeline, run_load
from sources.cometchat import CometChatClient, CometChatCredentials
from sources.cometchat.windows import ForwardRead

KILL_AT, PIPELINES_DIR, DATABASE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
taken = 0
advance = ForwardRead.advance


def advance_then_die(self, window, page) -> None:
    global taken
    advance(self, window, page)
    if window is not None:
        taken += 1
        if taken >= KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)


ForwardRead.advance = advance_then_die  # type: ignore[method-assign]
credentials = CometChatCredentials(
    app_id=os.environ["SOURCES__COMETCHAT__CREDENTIALS__APP_ID"],
    api_key=os.environ["SOURCES__COMETCHAT__CREDENTIALS__API_KEY"],
    base_url=os.environ["SOURCES__COMETCHAT__CREDENTIALS__BASE_URL"],
)
pipeline = build_pipeline(
    destination=dlt.destinations.duckdb(DATABASE), progress=None, pipelines_dir=PIPELINES_DIR
)
run_load(
    pipeline, CometChatClient(credentials, requests_per_minute=60_000), ["messages"], messages_per_load=100
)
