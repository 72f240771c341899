"""One run of a pipeline at a time: a second run is refused at start instead of failing on the destination's lock."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dlt

from sources.cometchat.errors import CometChatError


class PipelineBusyError(CometChatError):
    """Another process is running the same pipeline."""


@contextmanager
def exclusive_run(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Holds an OS file lock next to the pipeline's working folder for the block.

    `flock` (not a lock file's mere existence) so that a killed run never leaves a stale lock behind.
    """
    path = Path(pipeline.pipelines_dir) / f".{pipeline.pipeline_name}.run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineBusyError(
                f"Another run of pipeline {pipeline.pipeline_name!r} is in progress; this one was not started"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
