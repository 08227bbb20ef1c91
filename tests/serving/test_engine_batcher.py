"""Guards serving/batcher.py: concurrent requests share batches, a lone request
runs at once, and a failing item fails alone."""

import asyncio
import threading
import time

import pytest

from serving.batcher import MicroBatcher


def _run(coro):
    return asyncio.run(coro)


def test_lone_request_runs_without_waiting_for_a_batch():
    batches = []
    batcher = MicroBatcher(lambda items: (batches.append(list(items)), [x * 2 for x in items])[1], max_batch=32)
    try:
        start = time.perf_counter()
        assert _run(batcher.submit(21)) == 42
        assert time.perf_counter() - start < 0.5
        assert batches == [[21]]
    finally:
        batcher.close()


def test_requests_arriving_during_a_batch_share_the_next_one():
    running, release = threading.Event(), threading.Event()
    batches = []

    def run(items):
        batches.append(list(items))
        if len(batches) == 1:
            running.set()
            release.wait(5)                     # hold the first batch while others queue up
        return [x + 1 for x in items]

    batcher = MicroBatcher(run, max_batch=4)

    async def scenario():
        first = asyncio.ensure_future(batcher.submit(0))
        assert await asyncio.to_thread(running.wait, 5)   # the first batch is inside run()
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 7)]
        await asyncio.sleep(0)                  # one loop turn: each submit queues its item
        release.set()
        return await first, await asyncio.gather(*rest)

    try:
        first, rest = _run(scenario())
    finally:
        batcher.close()
    assert first == 1 and rest == [2, 3, 4, 5, 6, 7]
    assert batches == [[0], [1, 2, 3, 4], [5, 6]]        # max_batch caps the merge


def test_submit_many_keeps_order_across_batches():
    batcher = MicroBatcher(lambda items: [x * x for x in items], max_batch=3)
    try:
        assert _run(batcher.submit_many(list(range(8)))) == [x * x for x in range(8)]
    finally:
        batcher.close()


def test_a_failing_item_fails_alone():
    def run(items):
        if "bad" in items:
            raise ValueError("bad item")
        return [x.upper() for x in items]

    batcher = MicroBatcher(run, max_batch=8)

    async def scenario():
        return await asyncio.gather(*(batcher.submit(x) for x in ["a", "bad", "c"]), return_exceptions=True)

    try:
        results = _run(scenario())
    finally:
        batcher.close()
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], ValueError)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(lambda items: items, max_batch=0)
