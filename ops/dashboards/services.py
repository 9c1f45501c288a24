"""Ops: every figure the gateway, the workers and ingest export (the metric contract), from Prometheus."""

from grafana_foundation_sdk.builders import dashboard

from ops.panels import board, figure, prom, series

RATE = "[$__rate_interval]"


def rate(metric: str, by: str, where: str = "") -> str:
    """Return the per-second rate of a counter summed by the labels `by`."""
    return f"sum by ({by}) (rate({metric}{{{where}}}{RATE}))"


def quantile(q: float, histogram: str, by: str = "") -> str:
    """Return a histogram's q-quantile over the rate window, per `by` labels."""
    labels = ", ".join(["le", *filter(None, [by])])
    return f"histogram_quantile({q}, sum by ({labels}) (rate({histogram}_bucket{RATE})))"


def percentiles(histogram: str, by: str = "") -> list:
    """Return the p50, p95 and p99 queries of a histogram."""
    suffix = f" {{{{{by}}}}}" if by else ""
    return [prom(quantile(q, histogram, by), f"p{round(q * 100)}{suffix}") for q in (0.5, 0.95, 0.99)]


def gateway() -> list:
    """Return the gateway's section: HTTP, Socket.IO, rate limits and sign-ins."""
    errors = 'status=~"5.."'
    return [
        dashboard.Row("Gateway"),
        series("Requests per second by route", [prom(rate("gateway_requests_total", "route, method"),
                                                      "{{method}} {{route}}")], "reqps"),
        series("Request latency", percentiles("gateway_request_seconds"), "s"),
        series("p95 latency by route", [prom(quantile(0.95, "gateway_request_seconds", "route"), "{{route}}")], "s"),
        series("5xx answers per second by route", [prom(rate("gateway_requests_total", "route", errors), "{{route}}")],
               "reqps"),
        figure("5xx share", [prom(f"(sum(rate(gateway_requests_total{{{errors}}}{RATE})) or vector(0))"
                                  f" / sum(rate(gateway_requests_total{RATE}))")], "percentunit"),
        figure("Open Socket.IO connections", [prom("sum(gateway_socket_connections)")], "none"),
        series("Socket.IO connects per second", [prom(rate("gateway_socket_connects_total", "outcome"),
                                                      "{{outcome}}")], "ops", width=12),
        series("Socket.IO connection lifetime", percentiles("gateway_socket_connection_seconds"), "s"),
        series("Subscriptions by channel", [prom("sum by (channel) (gateway_socket_subscriptions)", "{{channel}}")],
               "none", stacked=True),
        series("Emits per second by channel", [prom(rate("gateway_socket_emits_total", "channel"), "{{channel}}")],
               "ops"),
        series("Pushes dropped and slow clients cut off", [
            prom(rate("gateway_socket_dropped_total", "reason"), "dropped: {{reason}}"),
            prom("sum(rate(gateway_socket_slow_clients_total[$__rate_interval]))", "slow clients cut off")], "ops"),
        series("Rate-limited requests by limit", [prom(rate("gateway_rate_limited_total", "limit"), "{{limit}}")],
               "reqps"),
        series("Sign-ins by outcome", [prom(rate("gateway_sign_ins_total", "outcome"), "{{outcome}}")], "ops"),
        series("Answered without a part, by part", [prom(rate("gateway_unreachable_total", "part"), "{{part}}")],
               "ops"),
    ]


def workers() -> list:
    """Return the workers' section: flow, lag, dead letters, the sink, re-margin and the risk figures."""
    return [
        dashboard.Row("Workers"),
        series("Events in per second by topic", [prom(rate("worker_events_in_total", "role, topic"),
                                                      "{{role}} {{topic}}")], "ops"),
        series("Events out per second by topic", [prom(rate("worker_events_out_total", "role, topic"),
                                                       "{{role}} {{topic}}")], "ops"),
        series("Event latency p95 (publish − event time)",
               [prom(quantile(0.95, "worker_event_latency_seconds", "role, topic"), "{{role}} {{topic}}")], "s"),
        series("Consumer lag (messages not yet read)", [prom("sum by (role, reader) (worker_consumer_lag)",
                                                             "{{role}} {{reader}}")], "none"),
        series("Reorder buffer", [prom("sum by (role, reader) (worker_reorder_buffer_events)", "{{role}} {{reader}}")],
               "none"),
        series("Dead letters per second", [
            prom(rate("worker_dead_letters_total", "role, reason"), "{{role}}: {{reason}}"),
            prom(rate("ingest_dlq_total", "source, stage"), "ingest {{source}}: {{stage}}")], "ops"),
        series("Sink rows per second by table", [prom(rate("worker_sink_rows_total", "table"), "{{table}}")], "rowsps",
               stacked=True),
        series("Sink batch rows p95", [prom(quantile(0.95, "worker_sink_batch_rows", "table"), "{{table}}")], "none"),
        series("Sink batch time p95", [prom(quantile(0.95, "worker_sink_batch_seconds", "table"), "{{table}}")], "s"),
        series("Sink retries per second", [prom(rate("worker_sink_retries_total", "table"), "{{table}}")], "ops"),
        series("Re-margin time per oracle tick", percentiles("worker_remargin_seconds"), "s"),
        series("Accounts by state", [prom("sum by (state) (worker_accounts)", "{{state}}")], "none", stacked=True),
        series("Liquidations per second", [
            prom(rate("worker_liquidations_planned_total", "market"), "planned {{market}}"),
            prom(rate("worker_liquidations_filled_total", "market"), "filled {{market}}")], "ops"),
        series("Insurance fund", [prom("max(worker_insurance_fund_usd)", "insurance fund")], "currencyUSD"),
        series("Signals per second by kind", [prom(rate("worker_signals_total", "kind"), "{{kind}}")], "ops",
               stacked=True),
        series("Oracle age (wall clock − newest tick's event time)",
               [prom("time() - max by (market) (worker_oracle_last_event_seconds)", "{{market}}")], "s"),
    ]


def ingest() -> list:
    """Return ingest's section: what it publishes, its RPC endpoints and streams."""
    return [
        dashboard.Row("Ingest"),
        series("Published per second", [prom(rate("ingest_published_total", "source, topic"),
                                             "{{source}} {{topic}}")], "ops"),
        series("Duplicates dropped per second", [prom(rate("ingest_duplicates_total", "source"), "{{source}}")],
               "ops"),
        series("RPC requests and errors per second", [
            prom(rate("ingest_rpc_requests_total", "endpoint"), "requests {{endpoint}}"),
            prom(rate("ingest_rpc_errors_total", "endpoint"), "errors {{endpoint}}")], "reqps"),
        series("RPC latency p95", [prom(quantile(0.95, "ingest_rpc_latency_seconds", "endpoint"), "{{endpoint}}")],
               "s"),
        series("RPC slot and lag", [prom("max by (endpoint) (ingest_rpc_slot)", "slot {{endpoint}}"),
                                    prom("max by (endpoint) (ingest_rpc_lag_slots)", "behind {{endpoint}}"),
                                    prom("max by (endpoint) (ingest_rpc_active)", "active {{endpoint}}")], "none"),
        series("Streams connected and reconnects", [
            prom("max by (source) (ingest_connected)", "connected {{source}}"),
            prom(rate("ingest_reconnects_total", "source"), "reconnects/s {{source}}")], "none"),
        series("Stream gaps", [prom(rate("ingest_gaps_total", "source"), "gaps/s {{source}}"),
                               prom(rate("ingest_gap_seconds_total", "source"), "gap s/s {{source}}")], "none"),
        series("Hermes mismatches and backfill", [
            prom(rate("ingest_hermes_binary_mismatches_total", "source"), "hermes mismatches/s {{source}}"),
            prom("max by (source) (ingest_backfill_behind)", "backfill behind {{source}}")], "none"),
        series("Targets up", [prom('up{job=~"quantdesk-.*"}', "{{job}}")], "none", width=24),
    ]


def services() -> dashboard.Dashboard:
    """Return the Ops dashboard."""
    return board("QuantDesk ops", "quantdesk-ops", [*gateway(), *workers(), *ingest()],
                 description="The gateway's, the workers' and ingest's metrics (Prometheus).")
