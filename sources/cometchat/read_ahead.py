"""Reads the next items of an iterator on a background thread while the caller works on the current one.

Message pages come one request after another (each needs the previous page's last message); reading the
next page while the current one is reshaped overlaps the API's response time with our CPU time. The
standard library has no bounded look-ahead iterator, hence this small one.
"""

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def read_ahead(items: Iterator[T], depth: int = 2, finishing: threading.Event | None = None) -> Iterator[T]:
    """The items of `items`, in order, with up to `depth` of them read in advance; errors re-raised here.

    Once `finishing` is set, no further item is read: those already read, or being read, still come, and then
    the iteration ends (closing it instead drops them).
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
                if finishing is not None and finishing.is_set():
                    break
            buffer.put((_DONE, None))
        except BaseException as error:  # handed to the consumer, which re-raises it
            buffer.put((_DONE, error))

    thread = threading.Thread(target=produce, name="cometchat-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
