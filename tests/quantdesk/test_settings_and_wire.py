"""Settings refuse unsafe production starts; the wire format and replay files are exact and strict."""

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from quantdesk.broker import EmbeddedBroker, answers_metadata
from quantdesk.replay import ReplayError, read_lines
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse, migration_files
from quantdesk.wire import decode, encode_batch


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_MODE", "production")
    with pytest.raises(ValidationError, match="QUANTDESK_SESSION_SECRET"):
        Settings()


def test_production_refuses_the_simulated_venue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_MODE", "production")
    monkeypatch.setenv("QUANTDESK_SESSION_SECRET", "s3cret-from-the-vault")
    with pytest.raises(ValidationError, match="SIMULATOR_VENUE"):
        Settings()


def test_production_needs_real_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_MODE", "production")
    monkeypatch.setenv("QUANTDESK_SESSION_SECRET", "s3cret-from-the-vault")
    monkeypatch.setenv("QUANTDESK_SIMULATOR_VENUE", "false")
    with pytest.raises(ValidationError, match="KAFKA_BOOTSTRAP"):
        Settings()


def test_settings_are_frozen_and_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_API_PORT", "4100")
    settings = Settings()
    assert settings.api_port == 4100 and settings.market("SOL-PERP").mmr == Decimal("0.05")
    with pytest.raises(ValidationError):
        settings.api_port = 1  # type: ignore[misc]


def test_decimals_cross_the_wire_without_losing_a_digit() -> None:
    value = Decimal("65000.123456789012345678")
    assert decode(encode_batch([{"price": value}])) == [{"price": "65000.123456789012345678"}]
    assert decode(b'{"a": 1}') == [{"a": 1}]


@pytest.mark.parametrize("line, message", [
    (b"{oops", "line 1: not JSON"),
    (b'{"topic": "nope", "value": {}}', "line 1: needs"),
    (b'{"topic": "oracle.ticks", "value": 3}', "line 1: needs"),
])
def test_replay_names_the_bad_line(tmp_path: Path, line: bytes, message: str) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_bytes(line)
    with pytest.raises(ReplayError, match=message):
        list(read_lines(file))


def test_replay_keys_accounts_by_wallet_and_markets_by_market(tmp_path: Path) -> None:
    file = tmp_path / "ok.jsonl"
    file.write_bytes(b'{"topic": "accounts.changes", "value": {"wallet": "W", "subaccount": 2}}\n\n'
                     b'{"topic": "oracle.ticks", "value": {"market": "BTC-PERP"}}\n')
    assert [(t, k) for t, k, _ in read_lines(file)] == [("accounts.changes", "W:2"), ("oracle.ticks", "BTC-PERP")]


def test_broker_stops_and_its_port_goes_quiet() -> None:
    broker = EmbeddedBroker().start()
    assert answers_metadata("127.0.0.1", broker.port)
    broker.stop()
    assert broker.process is not None and broker.process.poll() is not None
    assert not answers_metadata("127.0.0.1", broker.port)


def test_migrations_apply_once_and_record_their_versions(settings: Settings) -> None:
    warehouse = Warehouse.from_settings(settings)
    first, second = warehouse.migrate(), warehouse.migrate()
    assert first == [p.stem for p in migration_files()] and first[0] == "0001_events" and second == []
    tables = {r["name"] for r in warehouse.rows(f"SHOW TABLES FROM {settings.clickhouse_database}")}
    assert {"oracle_ticks", "fills", "candles", "dead_letters", "schema_migrations"} <= tables
