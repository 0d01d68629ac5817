"""The query service's settings, read once at start from the environment (and `.env`)."""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from order_shared.settings import Port, ServiceSettings
from order_shared.topics import MAX_MESSAGE_BYTES

# RFC 6750's b64token, and long enough not to be guessed.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_MIN_TOKEN_LENGTH = 16

# In a source checkout the page lives in the repository's `web/`; images set WEB_ROOT.
_CHECKOUT_WEB_ROOT = Path(__file__).resolve().parents[4] / "web"


class QuerySettings(ServiceSettings):
    database_url: str = Field(
        default="postgresql://order_query:order_query@127.0.0.1:5432/orders",
        pattern=r"^postgres(ql)?://",
    )
    """PostgreSQL, as a member of the read-only `order_reader` role."""
    host: str = "127.0.0.1"
    """The address the page, the API, health and metrics listen on."""
    port: Port = 8080
    """Their port."""
    web_root: Path = _CHECKOUT_WEB_ROOT
    """The page's files (the repository's `web/`; `/app/web` in the image)."""
    asgi_server: Literal["granian", "uvicorn"] = "granian"
    """The ASGI server: `granian` (chosen by measurement, see Performance); `uvicorn` also works."""
    workers: int = Field(default=1, ge=1, le=32)
    """Granian worker processes on the one port (above 1 needs `ASGI_SERVER=granian`). Each is a
    process with its own informer and a full cache of its own; keep 1 and scale with replicas
    (see "Multi-core pods")."""
    cache_max_entries: int = Field(default=1_000_000, ge=1, le=100_000_000)
    """The most orders the cache holds."""
    cache_max_bytes: int = Field(default=2 * 1024**3, ge=1024**2, le=1024**4)
    """Approximate memory budget of the cache (about 2 KB per order); the least recently used
    orders go first and are read from PostgreSQL on demand."""
    cache_ttl_seconds: float = Field(default=3600.0, gt=0, le=30 * 86_400)
    """The last resort; catch-ups keep entries fresh long before."""
    cache_not_found_ttl_seconds: float = Field(default=2.0, ge=0, le=3600)
    """How long a "not found" is remembered; an announcement of that id clears it at once."""
    resync_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    """The backstop catch-up on what changed since the last sequence seen (the name is older than
    the word "catch-up")."""
    warm_batch_size: int = Field(default=5_000, ge=1, le=1_000_000)
    """Rows per fetch of the warm-up's server-side cursor."""
    database_pool_size: int = Field(default=8, ge=1, le=100)
    """Connections to PostgreSQL."""
    traced_hits_per_second: float = Field(default=10.0, ge=0, le=1_000_000_000)
    """The most cache hits a second (per worker process) that begin a trace of their own (the
    sampler still decides which; 0 for none). Hits whose caller sent a sampled `traceparent` are
    always traced."""

    # Commands (POST, PUT, DELETE under /api/v1/orders). Several tokens, comma-separated,
    # may be valid at once (rotation). Unset: this replica takes no commands (each is
    # answered 401); set but empty or malformed: the service does not start.
    api_tokens: SecretStr | None = None
    """Bearer tokens of the command API, comma-separated (several during a rotation), each at least
    16 characters of `A-Z a-z 0-9 . _ ~ + / -`; never logged. Unset: no commands taken (401),
    reads served."""
    # The same limit as the ingestor's MAX_MESSAGE_BYTES: a body the ingestor would
    # dead-letter for its size is refused here with 413.
    max_message_bytes: int = Field(default=1_048_576, ge=1024, le=MAX_MESSAGE_BYTES)
    """The largest command body (413 beyond); keep it equal to the ingestor's."""
    command_wait_max_seconds: int = Field(default=30, ge=0, le=300)
    """The largest `Prefer: wait=N`."""
    kafka_send_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    """How long a command waits for Kafka's acknowledgement before 503."""
    idempotency_ttl_seconds: int = Field(default=86_400, ge=1, le=30 * 86_400)
    """How long an `Idempotency-Key`'s answer is kept (its claim, while in progress, is a lease of
    `COMMAND_WAIT_MAX_SECONDS` + `KAFKA_SEND_TIMEOUT_SECONDS` + 10 s); see "Redis memory" for
    the sizing."""
    command_rate_per_minute: int = Field(default=600, ge=1, le=10_000_000)
    """Commands per client (token, or address when unauthenticated) per minute, across replicas."""

    # Live streams of the page (docs: architecture/live-updates.md).
    stream_max_streams: int = Field(default=2_000, ge=1, le=100_000)
    """Live streams one replica serves at once; more are answered 503 with `Retry-After: 5`."""
    stream_max_per_address: int = Field(default=16, ge=1, le=100_000)
    """Live streams from one client address (behind `TRUSTED_PROXIES`, the address in `X-Forwarded-
    For`)."""
    stream_buffer_events: int = Field(default=32, ge=1, le=10_000)
    """Writes a stream's client may have waiting; past that it is sent `reload` and dropped."""
    stream_history_changes: int = Field(default=20_000, ge=1, le=10_000_000)
    """Recent changes kept for newest-orders clients that reconnect with `Last-Event-ID` (about 20
    s at 1,000 changes a second); older ids get `reload`. Each keeps its document alive: about
    30 MB at most with orders of 1.3 KB."""
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    """A comment on a stream quiet this long, so that proxies keep it open."""
    stream_newest_interval_ms: int = Field(default=200, ge=0, le=60_000)
    """The newest orders' changes are sent together at most this often (at once after a quiet
    spell)."""
    courier_database_url: str | None = Field(default=None, pattern=r"^postgres(ql)?://")
    """The database of the courier's tables, whose change notifications make an order's stream say
    its courier changed. Unset: `DATABASE_URL`."""
    trusted_proxies: str = "127.0.0.1/32,::1/128"
    """Addresses or networks of the proxies whose `X-Forwarded-For` names the client (the chart and
    Compose: the private networks)."""

    @property
    def idempotency_lease_seconds(self) -> int:
        """How long an Idempotency-Key's claim lasts without its answer: longer than the
        longest a command takes (its Kafka send, its `Prefer: wait`, and a margin for a
        PostgreSQL read), so only a replica that died mid-command lets it run out."""
        return self.command_wait_max_seconds + math.ceil(self.kafka_send_timeout_seconds) + 10

    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.trusted_proxies.split(",")
            if part.strip()
        ]

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        for position, part in enumerate(value.split(","), start=1):
            if not part.strip():
                continue
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"entry {position} is not an address or network (e.g. 10.0.0.0/8)"
                ) from None
        return value

    @model_validator(mode="after")
    def _workers_need_granian(self) -> QuerySettings:
        if self.workers > 1 and self.asgi_server != "granian":
            raise ValueError("WORKERS above 1 needs ASGI_SERVER=granian")
        return self

    @field_validator("api_tokens")
    @classmethod
    def _tokens_are_well_formed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        tokens = value.get_secret_value().split(",")
        for position, token in enumerate(tokens, start=1):
            token = token.strip()
            # The message names the position, never the token.
            if len(token) < _MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
                raise ValueError(
                    f"token {position} of {len(tokens)} must be at least "
                    f"{_MIN_TOKEN_LENGTH} characters of A-Z a-z 0-9 . _ ~ + / - (then any '=')"
                )
        return value

    def bearer_tokens(self) -> tuple[bytes, ...]:
        """The valid tokens; empty when commands are off."""
        if self.api_tokens is None:
            return ()
        tokens = self.api_tokens.get_secret_value().split(",")
        return tuple(token.strip().encode() for token in tokens)
