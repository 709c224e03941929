"""Running producers ahead of their consumer: the items of an iterator made in a background
thread, or a function mapped over items by a few threads in order, so that making the next
overlaps with the work on this one (numpy, Arrow, zstd and file reads release the
interpreter lock)."""
from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


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


def mapped(fn: Callable[[T], R], items: Iterable[T], workers: int = 2) -> Iterator[R]:
    """``fn`` of each of ``items``, in their order, made by ``workers`` threads at most
    ``workers`` items ahead of the consumer. Closing the result cancels what has not started
    and waits for what has; an error of ``fn`` is raised here, in its item's place."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mapped")
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
