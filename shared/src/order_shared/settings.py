"""Typed settings read once at start from the environment and an optional `.env` file.

Each service declares its own subclass of `ServiceSettings`. A bad value stops the
program before it does anything, with a message naming the environment variable.
"""

from __future__ import annotations

import sys
from typing import Annotated, Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

Port = Annotated[int, Field(ge=1, le=65535)]


class ServiceSettings(BaseSettings):
    """What every service needs: where the servers are and how to report telemetry."""

    # Each field's docstring is its description on the site's configuration page.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    database_url: str = Field(
        default="postgresql://order_ingestor:order_ingestor@127.0.0.1:5432/orders",
        pattern=r"^postgres(ql)?://",
    )
    """PostgreSQL, as the service's own login (a member of its group role)."""
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^rediss?://")
    """Redis: the change announcements on `orders:changes`, and the commands' idempotency keys and
    rate limits."""
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", min_length=1)
    """The Kafka brokers, comma-separated `host:port`."""
    otel_exporter_otlp_endpoint: str | None = None
    """Where spans go over OTLP/HTTP, e.g. `http://127.0.0.1:4318`. Unset: no export, and no spans
    made (the trace context in headers is still carried on; the producer still begins traces)."""
    otel_service_name: str | None = None
    """The service's name in traces; unset: `ingestor`, `query`, `courier` or `producer`."""
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    """The least severe log records written."""
    log_format: Literal["json", "console"] = "json"
    """`json`: one JSON object per line; `console` for a person at a terminal."""


class ConsumerServiceSettings(ServiceSettings):
    """What a service that consumes Kafka into PostgreSQL adds: when readiness gives up on
    a batch, and the bounds on its database sessions."""

    progress_deadline_seconds: float = Field(default=120.0, gt=0, le=86_400)
    """Readiness turns false when a fetched batch has waited this long (a database or broker away,
    a privilege revoked)."""
    # Bounds on how long one session can hold a lock others need (the ingestor's change
    # counter, the courier's dispatch lock): a holder frozen or cut off mid-transaction
    # is ended by the server, and a waiter gives up instead of waiting for ever.
    database_lock_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    """PostgreSQL's `lock_timeout` for every session of the pool: a waiter (a courier API request)
    gives up with a 503 instead of waiting for ever."""
    database_statement_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    """PostgreSQL's `statement_timeout` for every session of the pool."""
    database_idle_in_transaction_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    """PostgreSQL's `idle_in_transaction_session_timeout` for every session of the pool: a frozen
    or cut-off holder keeps the ingestor's change counter or the courier's dispatch lock for
    seconds, not until TCP gives up."""

    def database_session_settings(self) -> dict[str, str]:
        """PostgreSQL settings of every session of the service's pool."""
        return {
            "lock_timeout": _milliseconds(self.database_lock_timeout_seconds),
            "statement_timeout": _milliseconds(self.database_statement_timeout_seconds),
            "idle_in_transaction_session_timeout": _milliseconds(
                self.database_idle_in_transaction_timeout_seconds
            ),
        }


def _milliseconds(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """Read the settings or exit with status 2 naming every variable that is wrong.

    The offending values are not echoed: a URL may carry a password.
    """
    try:
        return settings_class()
    except ValidationError as error:
        lines = [f"{settings_class.__name__}: invalid configuration"]
        for problem in error.errors():
            variable = "_".join(str(part) for part in problem["loc"]).upper()
            lines.append(f"  {variable}: {problem['msg']}")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
