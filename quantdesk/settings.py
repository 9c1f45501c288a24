"""The one settings class: every knob is a `QUANTDESK_*` environment variable."""

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from programs.idl import PROGRAM_ID
from quantdesk.markets import DEFAULT_MARKETS, Market

DEV_SESSION_SECRET = "dev-only-session-secret-change-me"


class Settings(BaseSettings):
    """Platform configuration, frozen once read."""

    model_config = SettingsConfigDict(env_prefix="QUANTDESK_", frozen=True, extra="ignore")

    # the platform
    mode: Literal["embedded", "production"] = "embedded"
    data_dir: Path = Path(".quantdesk")
    app_id: str = "quantdesk"
    markets: tuple[Market, ...] = DEFAULT_MARKETS

    # broker and topics
    kafka_bootstrap: str | None = Field(
        default=None, description="host:port list; unset starts the embedded Tansu broker"
    )
    tansu_bin: Path | None = None
    kafka_session_timeout_s: float = 6.0
    topic_prefix: str = ""
    topic_partitions: int = 3
    topic_replication: int = Field(
        default=1, ge=1, description="replicas of every topic the platform creates; 1 for the embedded broker")

    # warehouse and its sink
    clickhouse_dsn: str | None = Field(
        default=None, description="chdb://PATH or http://host:8123/db; unset uses chDB under data_dir"
    )
    clickhouse_database: str = "quantdesk"
    clickhouse_timeout_s: int = Field(
        default=10, ge=1, description="a ClickHouse server that `quantdesk api` cannot reach, or that does not "
                                      "answer a query within this, counts as unreachable (503); workers and CLI wait")
    sink_batch_size: int = 5000
    sink_batch_seconds: float = 0.5

    # risk worker and the simulated markets
    reorder_grace_ms: int = Field(
        default=1000, description="event time the accounts agent waits for earlier events of other topics"
    )
    max_lateness_ms: int = Field(
        default=86_400_000, gt=0,
        description="event time behind the newest it applied after which a worker (risk, markets, orders) refuses an "
                    "input event as late (to dlq): its applied ids are remembered that long, and until their offsets "
                    "are committed",
    )
    risk_checkpoint_s: float = Field(
        default=5.0, ge=0,
        description="wall-clock seconds between two checkpoints of a risk task (when it applied anything; 0: after "
                    "every release): what a task started again applies and sends again, against the checkpoints' "
                    "writes",
    )
    feed_checkpoint_s: float = Field(
        default=5.0, ge=0,
        description="wall-clock seconds between two checkpoints of the feed's markets agent (when it applied "
                    "anything): what a start of the feed reads again, against the checkpoints' writes",
    )
    simulator_venue: bool = Field(default=True, description="execute liquidation plans as simulated fills")
    simulator_seed: int = 7
    simulator_tick_ms: int = 400
    simulator_accounts: int = 20
    simulator_venue_prices: bool = Field(
        default=True, description="quote a second venue (`sim-venue`) on venues.prices: the oracle plus noise, "
                                  "now and then dislocated by 80-150 bps")
    simulator_books: bool = Field(
        default=True, description="publish the simulated venue's order flow (makers' ladders around the oracle, "
                                  "which the traders' orders walk) on `orders.events`, the fills naming their "
                                  "orders, and the second venue's book on `books`; the orders agent builds our "
                                  "venue's book (`quantdesk`) from them")

    # MIKEY signals: thresholds, the margin by which a level must be regained before it fires again, cool-down
    signal_health_lines: tuple[Decimal, ...] = Field(
        default=(Decimal(50), Decimal(20), Decimal(10)), description="health levels whose crossing is signalled")
    signal_health_margin: Decimal = Field(default=Decimal(2), description="health points to regain a level")
    signal_liquidation_distance: Decimal = Field(
        default=Decimal("0.05"), description="a liquidation price nearer than this share of the oracle is signalled")
    signal_liquidation_distance_margin: Decimal = Decimal("0.01")
    signal_funding_apr: Decimal = Field(default=Decimal("0.5"), description="|funding APR| signalled above this")
    signal_funding_apr_margin: Decimal = Decimal("0.05")
    signal_volatility_ratio: Decimal = Field(
        default=Decimal(3), description="1-minute realised volatility over this multiple of its 24 h baseline")
    signal_volatility_margin: Decimal = Decimal("0.5")
    signal_volatility_min_history_ms: int = Field(
        default=1_800_000, description="event time of prices the volatility baseline needs before a spike is signalled")
    signal_whale_notional: Decimal = Field(default=Decimal(100_000), description="a fill this large (USD) or larger")
    signal_venue_divergence_bps: Decimal = Field(
        default=Decimal(50), description="mark against another venue's price, in basis points")
    signal_venue_divergence_margin_bps: Decimal = Decimal(10)
    signal_venue_max_age_ms: int = Field(
        default=60_000, description="another venue's price older than this (event time) is not compared")
    signal_oi_skew: Decimal = Field(
        default=Decimal("0.75"), description="share of a market's holders on one side (long or short) signalled")
    signal_oi_skew_margin: Decimal = Decimal("0.05")
    signal_oi_skew_min_holders: int = 5
    signal_cooldown_ms: int = Field(default=300_000, description="event time between two signals of one kind and subject")

    # webhooks: a wallet's account signals POSTed, signed, to the URLs it registers
    webhook_max_attempts: int = Field(default=6, ge=1, le=30, description="attempts per delivery, the first included")
    webhook_backoff_s: float = Field(default=1.0, gt=0, description="wait before the second attempt, doubling")
    webhook_backoff_max_s: float = Field(default=60.0, gt=0, description="the longest wait between two attempts")
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="one attempt, from resolving to the answer")
    webhook_concurrency: int = Field(default=32, ge=1, description="HTTP requests in flight at once")
    webhook_max_per_wallet: int = Field(default=10, ge=1, description="live webhooks a wallet may hold")

    # gateway
    api_host: str = "127.0.0.1"
    api_port: int = 3002
    trusted_proxies: tuple[IPvAnyNetwork, ...] = Field(
        default=(), description="IPs/CIDRs of proxies whose X-Forwarded-For names the caller; none by default")
    max_body_bytes: int = Field(
        default=64 << 10, description="a larger request body is refused with 413; a larger Socket.IO message ends its "
                                      "connection")
    max_header_bytes: int = Field(default=16 << 10, description="larger request headers in total are refused with 431")
    max_header_line_bytes: int = Field(default=8 << 10, description="a longer request header line is refused with 431")
    room_history: int = Field(
        default=1000, ge=0, le=1_000_000,
        description="deltas each live Socket.IO room keeps for clients that resubscribe with since_seq")
    socket_max_queued: int = Field(
        default=1000, ge=1, description="pushes waiting for one Socket.IO client that reads slower than they come: "
                                        "past this it is cut off as a slow client (it resyncs on reconnecting)")
    venue_taker_fees: dict[str, Annotated[Decimal, Field(ge=0, lt=1)]] = Field(
        default_factory=lambda: {"hyperliquid": Decimal("0.00045"), "sim-venue": Decimal("0.0005")},
        description="venue -> taker fee rate the order ticket routes with (`quantdesk`, ours, is the markets' own); "
                    "a venue without one is left out of routes")
    status_max_age_ms: int = Field(
        default=30_000, ge=1,
        description="/status and the ticket: a source whose last event is older than this (wall clock) is unhealthy")
    status_check_ms: int = Field(default=1_000, ge=10, description="how often the status channel checks for changes")
    publish_timeout_s: float = Field(
        default=5.0, gt=0, description="an admin's command or a decision's audit record the broker has not taken "
                                       "within this answers 503")

    # operations: each worker's /health, /ready and /metrics; what /ready tolerates
    risk_worker_port: int = Field(default=3004, description="the risk worker's /health, /ready and /metrics")
    risk_shards: int = Field(default=1, ge=1, description=(
        "risk worker processes `quantdesk up` runs; they share the risk tasks (one per input partition)"))
    feed_worker_port: int = Field(default=3005, description="the feed worker's (and the `all` role's) endpoints")
    ready_max_lag: int = Field(
        default=10_000, ge=0, description="/ready fails once a reader has more messages than this not applied")

    # sign-in and sessions
    redis_url: str | None = None
    redis_timeout_s: float = Field(
        default=1.0, gt=0, description="a Redis call (connect or command) taking longer counts as Redis unreachable")
    session_secret: SecretStr = SecretStr(DEV_SESSION_SECRET)
    siws_domain: str = "localhost:3002"
    siws_uri: str = "http://localhost:3002"
    chain_id: str = "mainnet"
    admin_wallets: tuple[str, ...] = Field(
        default=(), description="wallets whose sessions hold the admin role (signed in through SIWS like anyone)")

    # ingest: the program on Solana and Pyth
    ingest_port: int = 3003
    program_id: str = PROGRAM_ID
    price_scale: int = Field(default=6, description="decimals of on-chain fixed-point prices")
    solana_rpc_urls: tuple[str, ...] = Field(
        default=("https://api.mainnet-beta.solana.com",), description="JSON-RPC endpoints, preferred first"
    )
    solana_ws_urls: tuple[str, ...] = Field(
        default=("wss://api.mainnet-beta.solana.com",), description="websocket endpoints for logsSubscribe"
    )
    commitment: Literal["confirmed", "finalized"] = "confirmed"
    rpc_timeout_s: float = 10.0
    rpc_max_lag_slots: int = Field(default=150, description="an endpoint this far behind the best is skipped")
    rpc_cooldown_s: float = Field(default=5.0, description="how long a failing endpoint is skipped")
    backfill_interval_s: float = Field(default=30.0, description="catch up from the cursor at least this often")
    chain_markets: dict[str, str] = Field(default_factory=dict, description="market account -> market name")
    sol_usd_market: str = Field(default="SOL-PERP", description="market whose oracle values SOL deposits")
    hermes_url: str = Field(
        default="wss://hermes.pyth.network/ws", description="ws(s)://…/ws streams v1 updates, http(s):// streams v2 SSE"
    )
    pyth_price_accounts: dict[str, str] = Field(default_factory=dict, description="price account -> market name")
    pyth_account_poll_s: float = 1.0
    hermes_silence_s: float = Field(
        default=10.0, gt=0, description="nothing heard from Hermes for this long (it sends each feed about every "
                                        "400 ms): the stream is given up and made again, as after a drop")

    # ingest: other venues' prices (venues.prices) and books (books)
    hyperliquid_ws_url: str = Field(default="wss://api.hyperliquid.xyz/ws", description="Hyperliquid's websocket")
    hyperliquid_markets: dict[str, str] = Field(
        default_factory=lambda: {"BTC": "BTC-PERP", "ETH": "ETH-PERP", "SOL": "SOL-PERP"},
        description="Hyperliquid coin -> our market (its l2Book subscribed); other coins of allMids are ignored")
    hyperliquid_ping_s: float = Field(
        default=50.0, description="send Hyperliquid's ping this often (it closes a connection silent for 60 s)")
    hyperliquid_silence_s: float = Field(
        default=65.0, description="nothing heard (mids, books or pong) for this long: the connection is made again")

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> "Settings":
        """Refuse to start in production mode with development secrets, embedded parts or unreplicated topics."""
        if self.mode != "production":
            return self
        if self.session_secret.get_secret_value() == DEV_SESSION_SECRET:
            raise ValueError("production mode needs QUANTDESK_SESSION_SECRET (the dev secret is set)")
        if self.simulator_venue:
            raise ValueError("production mode must not fill liquidation plans in the simulated venue: "
                             "set QUANTDESK_SIMULATOR_VENUE=false")
        if not self.kafka_bootstrap or not self.clickhouse_dsn or not self.redis_url:
            raise ValueError("production mode needs QUANTDESK_KAFKA_BOOTSTRAP, _CLICKHOUSE_DSN and _REDIS_URL")
        if self.topic_replication < 3:
            raise ValueError("production mode needs QUANTDESK_TOPIC_REPLICATION of at least 3 (a topic with fewer "
                             "replicas loses acknowledged writes or stops taking them when a broker is down)")
        return self

    @property
    def market_names(self) -> tuple[str, ...]:
        """Return the configured market names in order."""
        return tuple(m.name for m in self.markets)

    @property
    def feed_markets(self) -> dict[str, str]:
        """Return each market's Pyth feed id mapped to the market name."""
        return {m.feed_id: m.name for m in self.markets}

    def topic(self, name: str) -> str:
        """Return the broker topic name for a logical topic."""
        return f"{self.topic_prefix}{name}"

    def resolved_clickhouse_dsn(self) -> str:
        """Return the ClickHouse DSN, defaulting to chDB under the data dir."""
        return self.clickhouse_dsn or f"chdb://{(self.data_dir / 'chdb').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """Return the process settings read from the environment."""
    return Settings()
