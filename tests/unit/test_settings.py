"""A bad setting stops a service at start, with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("executable", "variable", "value"),
    [
        ("order-query", "PORT", "eighty"),
        ("order-query", "CACHE_MAX_ENTRIES", "0"),
        ("order-query", "WORKERS", "0"),
        ("order-query", "API_TOKENS", ""),
        ("order-query", "API_TOKENS", "short"),
        ("order-query", "COMMAND_WAIT_MAX_SECONDS", "301"),
        ("order-query", "MAX_MESSAGE_BYTES", "999999999"),
        ("order-query", "TRACED_HITS_PER_SECOND", "-1"),
        ("order-query", "STREAM_MAX_STREAMS", "0"),
        ("order-query", "STREAM_MAX_PER_ADDRESS", "many"),
        ("order-query", "STREAM_BUFFER_EVENTS", "0"),
        ("order-query", "STREAM_HISTORY_CHANGES", "-1"),
        ("order-query", "STREAM_HEARTBEAT_SECONDS", "0"),
        ("order-query", "STREAM_NEWEST_INTERVAL_MS", "60001"),
        ("order-query", "TRUSTED_PROXIES", "10.0.0.0/8,the-ingress"),
        ("order-query", "COURIER_DATABASE_URL", "mysql://nope"),
        ("order-ingestor", "DATABASE_URL", "mysql://nope"),
        ("order-ingestor", "BATCH_MAX_RECORDS", "-5"),
        ("order-ingestor", "LOG_LEVEL", "LOUD"),
        ("order-courier", "ORDER_GATEWAY_URL", "query:8080"),
        ("order-courier", "GATEWAY_TIMEOUT_SECONDS", "0"),
        ("order-courier", "PORT", "70000"),
        ("order-courier", "CONSUMER_GROUP", ""),
        ("order-courier", "RETENTION_DAYS", "0"),
        ("order-courier", "RETENTION_DAYS", "a month"),
        ("order-courier", "RETRY_MAX_ATTEMPTS", "0"),
        ("order-courier", "GATEWAY_ROUND_SECONDS", "301"),
        ("order-courier", "DATABASE_LOCK_TIMEOUT_SECONDS", "-1"),
    ],
)
def test_bad_setting_stops_the_service_naming_the_variable(
    executable: str, variable: str, value: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(BIN / executable)],
        env={**os.environ, variable: value},
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_a_rejected_url_is_not_echoed_because_it_may_hold_a_password(tmp_path: Path) -> None:
    secret_url = "mysql://user:s3cret-password@db/orders"
    result = subprocess.run(
        [str(BIN / "order-ingestor")],
        env={**os.environ, "DATABASE_URL": secret_url},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "s3cret-password" not in result.stderr


def test_a_rejected_api_token_is_not_echoed(tmp_path: Path) -> None:
    valid, malformed = "a-valid-token-of-enough-length", "has a space-in-it-s3cret"
    result = subprocess.run(
        [str(BIN / "order-query")],
        env={**os.environ, "API_TOKENS": f"{valid},{malformed}"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "API_TOKENS" in result.stderr and "token 2 of 2" in result.stderr
    assert valid not in result.stderr and "s3cret" not in result.stderr
