"""The production compose file: its services, ports, settings, healthchecks, start order, Kafka quorum, scrape
configuration and Grafana provisioning, read from the files (no Docker engine runs here)."""

import ipaddress
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from quantdesk.kafka.publisher import REQUEST_BYTES
from quantdesk.settings import Settings

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
PROMETHEUS = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
NGINX = (DOCKER / "nginx.conf").read_text()
INTERPOLATION = re.compile(r"\$\{(\w+)(:?[?-][^}]*)?\}")
KAFKA = ("kafka-1", "kafka-2", "kafka-3")
QUANTDESK = ("migrate", "risk", "feed", "ingest", "gateway")  # the services run from the QuantDesk image
RULES = "../dashboards/alerts.yml"  # the alert rules `ops` generates into dashboards/


def filled(value: Any) -> str:
    """Return a compose value with a stand-in secret for each `${VAR...}` in it."""
    return INTERPOLATION.sub(lambda m: f"stand-in-{m.group(1).lower()}", str(value))


def values(node: Any) -> list[str]:
    """Return every value of a parsed compose file, as text (keys and comments left out)."""
    if isinstance(node, dict):
        return [v for child in node.values() for v in values(child)]
    if isinstance(node, list):
        return [v for child in node for v in values(child)]
    return [str(node)]


INTERPOLATED = [found for value in values(COMPOSE) for found in INTERPOLATION.findall(value)]


def settings_of(service: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Return the settings a QuantDesk service starts with: its environment alone, secrets stood in."""
    for name in [n for n in os.environ if n.startswith("QUANTDESK_")]:
        monkeypatch.delenv(name)
    for name, value in SERVICES[service]["environment"].items():
        monkeypatch.setenv(name, filled(value))
    return Settings()


def condition(service: str, needed: str) -> str | None:
    """Return the condition under which `service` waits for `needed` (None when it does not)."""
    return SERVICES[service].get("depends_on", {}).get(needed, {}).get("condition")


def healthcheck_url(service: str) -> tuple[int, str]:
    """Return the port and path a service's healthcheck asks."""
    found = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/-]*)", " ".join(SERVICES[service]["healthcheck"]["test"]))
    assert found, f"{service}'s healthcheck asks no local URL"
    return int(found.group(1)), found.group(2)


def test_every_service_is_there_and_only_the_front_doors_are_published() -> None:
    assert set(SERVICES) == {*KAFKA, "clickhouse", "redis", *QUANTDESK, "proxy", "prometheus", "grafana"}
    published = {name: s["ports"] for name, s in SERVICES.items() if "ports" in s}
    # the platform through the proxy, Grafana (its own sign-in), Prometheus on the loopback only (no sign-in)
    assert published == {"proxy": ["3002:8080"], "grafana": ["3000:3000"], "prometheus": ["127.0.0.1:9090:9090"]}


def test_every_quantdesk_variable_names_a_setting() -> None:
    text = (DOCKER / "compose.yaml").read_text() + (DOCKER / "Dockerfile").read_text()
    used = set(re.findall(r"QUANTDESK_(\w+)", text))
    assert used, "the compose file configures nothing through QUANTDESK_ variables"
    assert {name.lower() for name in used} <= set(Settings.model_fields), "not a field of quantdesk.settings.Settings"


@pytest.mark.parametrize("service", QUANTDESK)
def test_each_service_passes_the_production_checks(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_of(service, monkeypatch)
    assert settings.mode == "production"  # the validator refusing dev secrets and embedded parts has run
    assert settings.kafka_bootstrap == ",".join(f"{k}:9092" for k in KAFKA)
    assert urlsplit(settings.clickhouse_dsn).hostname == "clickhouse"
    assert urlsplit(settings.redis_url).hostname == "redis"
    assert settings.api_host == "0.0.0.0"  # reachable by Prometheus and the proxy, not only inside the container


def test_secrets_come_only_from_the_env_file_and_blank_ones_stop_compose() -> None:
    # `:?` refuses an unset or empty variable, so the example's blanks stop `up` instead of starting with no secret
    assert INTERPOLATED and all(form.startswith(":?") for _, form in INTERPOLATED)
    example = dict(line.split("=", 1) for line in (DOCKER / "env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert {name for name, _ in INTERPOLATED} == set(example)
    assert not any(example.values()), "env.example must not hold a usable secret"


def test_the_session_secret_is_never_written_in_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = SERVICES["gateway"]["environment"]
    assert INTERPOLATION.fullmatch(gateway["QUANTDESK_SESSION_SECRET"])
    assert settings_of("gateway", monkeypatch).session_secret.get_secret_value() == "stand-in-quantdesk_session_secret"


@pytest.mark.parametrize(("service", "port_field", "path"), [
    ("risk", "risk_worker_port", "/ready"),
    ("feed", "feed_worker_port", "/ready"),
    ("gateway", "api_port", "/ready"),
    ("ingest", "ingest_port", "/health"),
])
def test_quantdesk_healthchecks_ask_the_port_the_settings_give(service: str, port_field: str, path: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_of(service, monkeypatch)
    assert healthcheck_url(service) == (getattr(settings, port_field), path)


def test_every_long_running_service_has_a_healthcheck() -> None:
    running = {name for name, s in SERVICES.items() if s.get("restart") != "no"}
    assert running == set(SERVICES) - {"migrate"}
    assert all(SERVICES[name]["healthcheck"]["test"] for name in running)


def test_migrations_run_once_after_the_stores_are_healthy() -> None:
    assert SERVICES["migrate"]["command"] == ["quantdesk", "migrate"]
    assert SERVICES["migrate"]["restart"] == "no"
    for needed in (*KAFKA, "clickhouse", "redis"):
        assert condition("migrate", needed) == "service_healthy", needed


@pytest.mark.parametrize("service", ["risk", "feed", "ingest", "gateway"])
def test_services_start_after_the_migrations_on_a_healthy_kafka(service: str) -> None:
    assert condition(service, "migrate") == "service_completed_successfully"
    assert all(condition(service, k) == "service_healthy" for k in KAFKA)


def test_the_gateway_starts_after_ready_workers_and_runs_twice_sharing_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    assert condition("gateway", "risk") == condition("gateway", "feed") == "service_healthy"
    assert condition("gateway", "redis") == "service_healthy"
    assert condition("proxy", "gateway") == "service_healthy"
    assert SERVICES["gateway"]["deploy"]["replicas"] == 2
    # QUANTDESK_REDIS_URL turns on Socket.IO's Redis manager (api/sockets.py): the replicas act as one
    assert urlsplit(settings_of("gateway", monkeypatch).redis_url).hostname == "redis"
    assert SERVICES["gateway"]["command"] == ["quantdesk", "api"]
    assert SERVICES["risk"]["command"][-2:] == ["--role", "risk"]
    assert SERVICES["risk"]["deploy"]["replicas"] == 3  # the risk workers share the tasks through their group
    assert SERVICES["feed"]["command"][-2:] == ["--role", "feed"]


def test_only_the_proxy_shares_the_trusted_network_with_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    on_edge = {name for name, s in SERVICES.items() if "edge" in s.get("networks", [])}
    assert on_edge == {"gateway", "proxy"}
    subnet = ipaddress.ip_network(COMPOSE["networks"]["edge"]["ipam"]["config"][0]["subnet"])
    assert settings_of("gateway", monkeypatch).trusted_proxies == (subnet,)


def test_the_proxy_keeps_each_caller_on_one_replica_and_passes_websockets(monkeypatch: pytest.MonkeyPatch) -> None:
    port = settings_of("gateway", monkeypatch).api_port
    assert re.search(rf"server gateway:{port}\b", NGINX)
    assert re.search(r"^\s*(ip_hash|hash \$remote_addr)", NGINX, re.M), "Socket.IO polling needs sticky routing"
    assert "proxy_set_header Upgrade $http_upgrade" in NGINX
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for" in NGINX
    assert re.search(r"listen 8080;", NGINX) and SERVICES["proxy"]["ports"] == ["3002:8080"]


def kafka_env(node: str) -> dict[str, str]:
    """Return a Kafka node's environment as text."""
    return {k: str(v) for k, v in SERVICES[node]["environment"].items()}


def test_kafka_is_a_three_node_kraft_quorum() -> None:
    voters = {}
    for node in KAFKA:
        env = kafka_env(node)
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        voters[node] = env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{node}:9092"
        assert "CONTROLLER://:9093" in env["KAFKA_LISTENERS"]
    assert len(set(voters.values())) == 1, "every node must name the same quorum"
    quorum = dict(v.split("@") for v in next(iter(voters.values())).split(","))
    assert quorum == {kafka_env(node)["KAFKA_NODE_ID"]: f"{node}:9093" for node in KAFKA}
    assert len({kafka_env(node)["CLUSTER_ID"] for node in KAFKA}) == 1


@pytest.mark.parametrize("node", KAFKA)
def test_kafka_replicates_every_topic_three_times(node: str) -> None:
    env = kafka_env(node)
    assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
    assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) == REQUEST_BYTES  # what a producer sends, a broker takes
    assert f"{node}:/var/lib/kafka/data" in SERVICES[node]["volumes"]  # a volume per node: data outlives it


def scrape_targets(job: dict[str, Any]) -> list[str]:
    """Return the host:port targets of one scrape job, static or found by DNS."""
    static = [t for c in job.get("static_configs", []) for t in c["targets"]]
    return static + [f"{n}:{c['port']}" for c in job.get("dns_sd_configs", []) for n in c["names"]]


@pytest.mark.parametrize(("job", "service", "port_field"), [
    ("quantdesk-gateway", "gateway", "api_port"),
    ("quantdesk-risk", "risk", "risk_worker_port"),
    ("quantdesk-feed", "feed", "feed_worker_port"),
    ("quantdesk-ingest", "ingest", "ingest_port"),
])
def test_prometheus_scrapes_each_contract_job(job: str, service: str, port_field: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = {j["job_name"]: j for j in PROMETHEUS["scrape_configs"]}
    port = getattr(settings_of(service, monkeypatch), port_field)
    assert scrape_targets(jobs[job]) == [f"{service}:{port}"]
    assert jobs[job].get("metrics_path", "/metrics") == "/metrics"


@pytest.mark.parametrize("job", ["quantdesk-gateway", "quantdesk-risk"])
def test_prometheus_finds_every_replica(job: str) -> None:
    scaled = next(j for j in PROMETHEUS["scrape_configs"] if j["job_name"] == job)
    # one static target would be one replica: DNS answers the service name with every replica's address
    assert scaled["dns_sd_configs"][0]["type"] == "A"


def mounts(service: str) -> dict[str, str]:
    """Return a service's bind mounts, container path -> source."""
    binds = [v.split(":") for v in SERVICES[service]["volumes"] if v.startswith(".")]
    return {target: source for source, target, *_ in binds}


def test_prometheus_loads_the_alert_rules() -> None:
    assert PROMETHEUS["rule_files"] == ["/etc/prometheus/rules/alerts.yml"]
    assert mounts("prometheus") == {"/etc/prometheus/prometheus.yml": "./prometheus.yml",
                                    "/etc/prometheus/rules/alerts.yml": RULES}


def test_grafana_has_the_clickhouse_plugin_and_the_provisioned_dashboards() -> None:
    grafana = SERVICES["grafana"]
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"].split(",")
    assert INTERPOLATION.fullmatch(grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"])
    assert mounts("grafana") == {"/etc/grafana/provisioning": "../dashboards/provisioning",
                                 "/var/lib/grafana/dashboards": "../dashboards"}


@pytest.mark.parametrize("service", [name for name, s in SERVICES.items() if "volumes" in s])
def test_bind_mounts_name_files_of_the_repository(service: str) -> None:
    # a missing source would be mounted as an empty directory; the rules file is generated by `ops`
    missing = [s for s in mounts(service).values() if not (DOCKER / s).exists() and s != RULES]
    assert not missing


def test_services_built_here_use_the_dockerfile() -> None:
    built = {name: s["build"] for name, s in SERVICES.items() if "build" in s}
    assert set(built) == set(QUANTDESK)
    assert all((DOCKER / b["context"] / b["dockerfile"]).resolve() == DOCKER / "Dockerfile" for b in built.values())

