"""The query service's settings, read once at start from the environment (and `.env`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from order_shared.settings import Port, ServiceSettings

# In a source checkout the page lives in the repository's `web/`; images set WEB_ROOT.
_CHECKOUT_WEB_ROOT = Path(__file__).resolve().parents[4] / "web"


class QuerySettings(ServiceSettings):
    database_url: str = Field(
        default="postgresql://order_query:order_query@127.0.0.1:5432/orders",
        pattern=r"^postgres(ql)?://",
    )
    host: str = "127.0.0.1"
    port: Port = 8080
    web_root: Path = _CHECKOUT_WEB_ROOT
    # The ASGI server, chosen by `make bench` (see README); the other stays for comparison.
    asgi_server: Literal["granian", "uvicorn"] = "granian"
    # Granian worker processes, each with its own informer and a full cache of its own
    # (README, "Multi-core pods"): 1, one replica per core, is the recommended shape.
    workers: int = Field(default=1, ge=1, le=32)
    cache_max_entries: int = Field(default=1_000_000, ge=1, le=100_000_000)
    cache_max_bytes: int = Field(default=2 * 1024**3, ge=1024**2, le=1024**4)
    cache_ttl_seconds: float = Field(default=3600.0, gt=0, le=30 * 86_400)
    cache_not_found_ttl_seconds: float = Field(default=2.0, ge=0, le=3600)
    resync_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    warm_batch_size: int = Field(default=5_000, ge=1, le=1_000_000)
    database_pool_size: int = Field(default=8, ge=1, le=100)

    @model_validator(mode="after")
    def _workers_need_granian(self) -> QuerySettings:
        if self.workers > 1 and self.asgi_server != "granian":
            raise ValueError("WORKERS above 1 needs ASGI_SERVER=granian")
        return self
