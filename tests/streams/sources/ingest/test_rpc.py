"""The RPC pool: a stop that comes just as an endpoint answers stops the source (Python 3.11's `wait_for` returned
the answer then, and a polling source went on polling after its stop: the ingest service hung on leaving); an answer
past the bound is refused unread and the next endpoint asked."""

import asyncio

import pytest

from quantdesk.settings import Settings
from streams.sources.ingest.metrics import Metrics
from streams.sources.ingest.rpc import RpcPool
from tests.streams.sources.ingest.conftest import metric
from tests.streams.sources.ingest.fake_solana import FakeSolana


async def test_a_cancel_as_the_answer_arrives_is_not_lost() -> None:
    pool = RpcPool(Settings(solana_rpc_urls=("http://127.0.0.1:9",)), Metrics())
    answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def request(_client: object) -> int:
        return await answer
    try:
        asking = asyncio.create_task(pool.on(pool.endpoints[0], "getSlot", request))
        await asyncio.sleep(0)  # the request waits for its answer
        answer.set_result(7)  # the answer comes
        asking.cancel()  # and the stop, in the same moment
        with pytest.raises(asyncio.CancelledError):
            await asking
    finally:
        await pool.close()


@pytest.mark.parametrize("length", ["chunked", "declared"])
async def test_an_answer_past_the_bound_is_left_unread_and_the_next_endpoint_answers(length: str) -> None:
    flooding, healthy = await FakeSolana().start(), await FakeSolana(slot=7).start()
    flooding.flooding = length  # a body that never ends: read whole, it would fill the memory until the timeout
    metrics = Metrics()
    pool = RpcPool(Settings(solana_rpc_urls=(flooding.url, healthy.url), rpc_timeout_s=60), metrics, 1 << 20)
    try:
        assert (await pool.call("getSlot", lambda c: c.get_slot())).value == 7
        await asyncio.wait_for(flooding.flood_over.wait(), 30)
    finally:
        await pool.close()
        await flooding.stop()
        await healthy.stop()
    text = metrics.render().decode()
    assert metric(text, "ingest_rpc_errors_total", endpoint=flooding.url, method="getSlot") == 1
    assert metric(text, "ingest_rpc_active", endpoint=healthy.url) == 1
    assert flooding.flooded < 32 << 20, flooding.flooded  # 1 MB read, the rest what the sockets' buffers took
