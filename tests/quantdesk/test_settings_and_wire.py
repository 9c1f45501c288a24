"""Settings refuse unsafe production starts; the wire format and replay files are exact and strict."""

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from pydantic import ValidationError

from quantdesk.broker import EmbeddedBroker, answers_metadata
from quantdesk.messages import AccountSnapshot, AuditEntry, PositionFigures
from streams.sources.replay import ReplayError, read_lines
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse, migration_files
from quantdesk.wire import decode, encode, encode_batch


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
    sol = next(m for m in settings.markets if m.name == "SOL-PERP")
    assert settings.api_port == 4100 and sol.mmr == Decimal("0.05")
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


DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=6)
SCALARS = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | TEXT | DECIMALS
           | st.floats(allow_nan=False, allow_infinity=False))  # integers as orjson takes them
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                       max_leaves=8)


@st.composite
def snapshots(draw: st.DrawFn) -> AccountSnapshot:
    """Return an account state with positions, optional figures and an extra field."""
    money = {f: draw(DECIMALS) for f in ("collateral", "equity", "maintenance_margin", "initial_margin",
                                         "free_collateral", "health")}
    positions = [PositionFigures(market=draw(TEXT), size=draw(DECIMALS), entry_price=draw(DECIMALS),
                                 upnl=draw(DECIMALS), liquidation_price=draw(st.none() | DECIMALS),
                                 notional=draw(DECIMALS)) for _ in range(draw(st.integers(0, 3)))]
    return AccountSnapshot(id=draw(TEXT.map(lambda t: f"s{t}".replace("\n", ""))), ts=draw(st.integers(0, 2**53)),
                           wallet=draw(TEXT), state="healthy", leverage=draw(st.none() | DECIMALS),
                           positions=positions, note=draw(JSONISH), **money)


@examples(max_examples=100, deadline=None)
@given(st.lists(snapshots(), min_size=1, max_size=4), st.lists(st.dictionaries(TEXT, JSONISH, max_size=4), max_size=3))
def test_a_batch_of_models_encodes_to_the_bytes_of_the_generic_path(states: list[AccountSnapshot],
                                                                    data: list[dict[str, Any]]) -> None:
    audits = [AuditEntry(id=f"a{n}", ts=n, actor="risk-engine", action="x", subject="w:0", data=d)
              for n, d in enumerate(data)]
    for batch in (states, audits):
        assert encode_batch(batch) == encode(batch)
    assert encode_batch([*states, *audits]) == encode([*states, *audits])  # mixed classes: the generic path
