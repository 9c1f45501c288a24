"""The RPC pool: a stop that comes just as an endpoint answers stops the source (Python 3.11's `wait_for` returned
the answer then, and a polling source went on polling after its stop: the ingest service hung on leaving)."""

import asyncio

import pytest

from quantdesk.settings import Settings
from streams.sources.ingest.metrics import Metrics
from streams.sources.ingest.rpc import RpcPool


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
