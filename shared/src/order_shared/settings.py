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

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = Field(
        default="postgresql://order_ingestor:order_ingestor@127.0.0.1:5432/orders",
        pattern=r"^postgres(ql)?://",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^rediss?://")
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", min_length=1)
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str | None = None
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    # One JSON object per line for collectors, or lines for a person at a terminal.
    log_format: Literal["json", "console"] = "json"


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
