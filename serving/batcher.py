"""Micro-batching: concurrent requests share one model call.

Handlers ``await submit(request)``; worker threads take whatever is queued (up
to ``max_batch``) and run it as one batch. Nothing waits for a batch to fill:
an idle worker takes a lone request at once, so concurrency 1 pays no delay,
while under load requests that arrive during a model call are merged into the
next one. Model work runs on these threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Callable, Generic, Sequence, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
_STOP = object()


def _deliver(future: asyncio.Future, result, error: BaseException | None) -> None:
    if future.done():  # the client went away (cancelled)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class MicroBatcher(Generic[T, R]):
    """Runs ``run(batch) -> results`` (one result per item, in order) on worker threads.

    A batch that raises is retried item by item, so one bad request fails alone.
    """

    def __init__(self, run: Callable[[Sequence[T]], Sequence[R]], max_batch: int = 32,
                 threads: int = 1, name: str = "batcher"):
        if max_batch < 1 or threads < 1:
            raise ValueError(f"max_batch and threads must be >= 1, got {max_batch}, {threads}")
        self._run = run
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result (raises what the model raised)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((item, future, loop))
        return await future

    async def submit_many(self, items: Sequence[T]) -> list[R]:
        """Queue several items at once, so they land in the same batches."""
        loop = asyncio.get_running_loop()
        futures = []
        for item in items:
            future = loop.create_future()
            futures.append(future)
            self._queue.put((item, future, loop))
        return list(await asyncio.gather(*futures))

    def close(self, timeout: float = 10.0) -> None:
        """Finish queued work, then stop the threads."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)

    def _take(self) -> list | None:
        first = self._queue.get()
        if first is _STOP:
            return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is _STOP:
                self._queue.put(_STOP)
                break
            batch.append(entry)
        return batch

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            live = [entry for entry in batch if not entry[1].done()]
            if not live:
                continue
            for (item, future, loop), result, error in self._execute(live):
                loop.call_soon_threadsafe(_deliver, future, result, error)

    def _execute(self, batch: list) -> list:
        items = [entry[0] for entry in batch]
        try:
            results = list(self._run(items))
            if len(results) != len(items):
                raise RuntimeError(f"batch run returned {len(results)} results for {len(items)} items")
            return [(entry, result, None) for entry, result in zip(batch, results)]
        except Exception as error:  # noqa: BLE001  (isolate the failing item below)
            if len(batch) == 1:
                log.exception("request failed")
                return [(batch[0], None, error)]
            log.warning("batch of %d failed (%s); retrying one by one", len(batch), error)
            return [outcome for entry in batch for outcome in self._execute([entry])]
