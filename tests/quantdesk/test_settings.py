"""Settings refuse unsafe production starts, read the environment and stay frozen."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from quantdesk.settings import Settings


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


def test_production_refuses_topics_on_fewer_than_three_brokers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_MODE", "production")
    monkeypatch.setenv("QUANTDESK_SESSION_SECRET", "s3cret-from-the-vault")
    monkeypatch.setenv("QUANTDESK_SIMULATOR_VENUE", "false")
    monkeypatch.setenv("QUANTDESK_KAFKA_BOOTSTRAP", "kafka-1:9092")
    monkeypatch.setenv("QUANTDESK_CLICKHOUSE_DSN", "http://clickhouse:8123/quantdesk")
    monkeypatch.setenv("QUANTDESK_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("QUANTDESK_TOPIC_REPLICATION", "2")
    with pytest.raises(ValidationError, match="QUANTDESK_TOPIC_REPLICATION"):
        Settings()
    monkeypatch.setenv("QUANTDESK_TOPIC_REPLICATION", "3")
    assert Settings().topic_replication == 3


def test_topic_replication_defaults_to_one_for_the_embedded_broker_and_is_at_least_one(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().topic_replication == 1
    monkeypatch.setenv("QUANTDESK_TOPIC_REPLICATION", "0")
    with pytest.raises(ValidationError, match="topic_replication"):
        Settings()
