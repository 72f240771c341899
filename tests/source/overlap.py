"""A watch on `BackgroundLoad`: whether each load on its thread overlapped the next extract. Each load waits
there until the next extract has begun; were the slices loaded one after the other, none could begin."""

import threading
import time
from dataclasses import dataclass, field

from dlt.pipeline.pipeline import Pipeline

from pipelines.background_load import BackgroundLoad


@dataclass
class OverlapWatch:
    extracts: int = 0
    overlapped: list[bool] = field(default_factory=list)  # per load on the thread: the next extract had begun


def watch_overlap(monkeypatch) -> OverlapWatch:
    watch = OverlapWatch()
    started_after: list[int] = []
    extract, start, load = Pipeline.extract, BackgroundLoad.normalize_and_start, BackgroundLoad._load

    def counted_extract(self, *args, **kwargs):
        watch.extracts += 1
        return extract(self, *args, **kwargs)

    def noted_start(self):
        started_after.append(watch.extracts)  # on the caller's thread, before the load's thread starts
        return start(self)

    def load_once_the_next_read_began(self, step, held):
        # The loads run one at a time, in the order they were started.
        began, deadline = started_after.pop(0), time.monotonic() + 30
        while watch.extracts == began and time.monotonic() < deadline:
            time.sleep(0.01)
        on_thread = threading.current_thread() is not threading.main_thread()
        watch.overlapped.append(watch.extracts > began and on_thread)
        load(self, step, held)

    monkeypatch.setattr(Pipeline, "extract", counted_extract)
    monkeypatch.setattr(BackgroundLoad, "normalize_and_start", noted_start)
    monkeypatch.setattr(BackgroundLoad, "_load", load_once_the_next_read_began)
    return watch
