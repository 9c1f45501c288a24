"""Session-wide real parts: one Tansu broker, one chDB engine, the local Redis; per-test names."""

import os
import socket
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from quantdesk.broker import BrokerError, EmbeddedBroker, free_port
from quantdesk.kafka.publisher import Publisher
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parents[1]  # the repository
LOCAL_FIXTURES = ROOT / "tests" / "fixtures_local"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"  # DESIGN.md's fixtures, beside the repository


def unavailable(what: str, why: str) -> None:
    """Fail in CI, skip elsewhere, when a real part the test needs cannot be reached."""
    message = f"{what} is not reachable: {why}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """Start one Tansu broker for the test session and stop it at the end."""
    try:
        embedded = EmbeddedBroker().start()
    except BrokerError as exc:
        unavailable("the Tansu broker", str(exc))
    yield embedded
    embedded.stop()


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the session's chDB path (one engine per process; each test has its own database)."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


def own_settings(broker: EmbeddedBroker, chdb_dsn: str, data_dir: Path) -> Settings:
    """Return settings with their own topics, consumer group, database and ports on the session's broker and chDB."""
    name = f"t{uuid.uuid4().hex[:10]}"
    return Settings(
        kafka_bootstrap=broker.bootstrap, clickhouse_dsn=chdb_dsn, clickhouse_database=name,
        topic_prefix=f"{name}.", app_id=name, data_dir=data_dir, api_port=free_port(),
        risk_worker_port=free_port(), feed_worker_port=free_port(),
        kafka_session_timeout_s=3.0, sink_batch_seconds=0.2,
    )


@pytest.fixture
def settings(broker: EmbeddedBroker, chdb_dsn: str, tmp_path: Path) -> Settings:
    """Return settings with this test's own topics, consumer group, database and port."""
    return own_settings(broker, chdb_dsn, tmp_path)


@pytest.fixture
def warehouse(settings: Settings) -> Iterator[Warehouse]:
    """Return the test's migrated warehouse."""
    opened = Warehouse.from_settings(settings)
    opened.migrate()
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Return the URL of the Redis on this machine, after checking it answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            answer = sock.recv(16)
    except OSError as exc:
        unavailable("Redis on 127.0.0.1:6379", str(exc))
    if not answer.startswith(b"+PONG"):
        unavailable("Redis on 127.0.0.1:6379", f"answered {answer!r}")
    return "redis://127.0.0.1:6379/0"


async def send_raw(publisher: Publisher, topic: str, value: bytes, key: str = "raw") -> None:
    """Send bytes as they are: malformed input the platform must dead-letter."""
    await publisher.producer.send_and_wait(publisher.settings.topic(topic), value, key=key.encode())
