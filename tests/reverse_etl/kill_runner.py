"""`python kill_runner.py PHASE N apply_tags-args...`: runs apply_tags.main() and SIGKILLs itself at PHASE.

plan: when the plan is made (the journal holds the input rows only); send: before the N+1-th PUT goes
out; journal: when the N-th answer is to be journaled (that PUT was applied, its answer is lost);
audit: when dlt starts loading the audit package (extracted and normalized, not loaded);
after_audit: once the audit rows are loaded, before the journal is deleted.
"""

import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import dlt

import pipelines.tag_sync
import sources.cometchat.reverse_etl as reverse_etl
from pipelines import apply_tags
from sources.cometchat.reverse_etl import send
from sources.cometchat.reverse_etl.journal import Journal

PHASE, AFTER, ARGV = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
calls = 0
lock = threading.Lock()


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def at_count(original):
    def wrapper(*args, **kwargs):
        global calls
        with lock:
            calls += 1
            if calls > AFTER:
                die()
        return original(*args, **kwargs)

    return wrapper


if PHASE == "plan":
    reverse_etl.make_plan = lambda *args, **kwargs: die()
elif PHASE == "send":
    send._put = at_count(send._put)
elif PHASE == "journal":
    Journal.answered = at_count(Journal.answered)
    AFTER -= 1
elif PHASE == "audit":
    dlt.Pipeline.load = lambda *args, **kwargs: die()
elif PHASE == "after_audit":
    pipelines.tag_sync.Journal.discard = lambda self: die()
else:
    raise SystemExit(f"unknown phase {PHASE}")

sys.exit(apply_tags.main(ARGV))
