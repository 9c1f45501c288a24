"""The risk kill runs' day, run once a session without a kill: the tables each of those runs must end with."""

import asyncio

import pytest

from api.embedded import running
from quantdesk.broker import EmbeddedBroker
from tests.conftest import own_settings
from tests.reliability.runs import fresh, tables
from tests.reliability.scenario import ACCOUNTS, LEVERAGED, STEPS, Day, scenario, write_replay


@pytest.fixture(scope="session")
def uninterrupted_day(broker: EmbeddedBroker, chdb_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Day:
    """Run the day once on the embedded platform, with no kill; the kill runs, whichever way they run the platform,
    must each end with its tables (one reference, not one a test: each costs minutes)."""
    folder = tmp_path_factory.mktemp("day")
    events = scenario(STEPS, ACCOUNTS, LEVERAGED, order_flow=False)
    replay = write_replay(folder / "day.jsonl", events)

    async def once() -> dict[str, list[tuple]]:
        async with running(fresh(own_settings(broker, chdb_dsn, folder)), simulator=False,
                           replay_file=replay) as runtime:
            return await tables(runtime)
    return Day(events, replay, asyncio.run(once()))
