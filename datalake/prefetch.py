"""Running a producer ahead of its consumer: the items of an iterator made in a background
thread, so that making the next overlaps with the work on this one (numpy, Arrow, zstd and
file reads release the interpreter lock)."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced in a background thread up to ``depth`` ahead. Closing the result
    stops the producer and waits for it to leave ``items``; its error is raised here."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put((end, None))
        except BaseException as e:  # handed to the consumer
            ready.put((end, e))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = ready.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                ready.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()
