"""Structured logs: what `configure_logging` writes for our records and the libraries'."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from order_shared.telemetry import configure_logging

    trace.set_tracer_provider(TracerProvider())
    configure_logging("INFO", sys.argv[1])
    log = logging.getLogger("ingestor.consumer")
    log.info("outside any span")
    with trace.get_tracer("test").start_as_current_span("work"):
        log.info("rejected %s: %s", "orders[0]@5", "bad", extra={"order_id": "o-1"})
    logging.getLogger("aiokafka").warning(
        "cannot reach postgresql://order_ingestor:s3cret-pw@db:5432/orders, retrying"
    )
    logging.getLogger("ingestor").debug("below the level")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    """
)


def run(log_format: str) -> str:
    finished = subprocess.run(
        [sys.executable, "-c", SCRIPT, log_format],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert finished.stdout == ""
    return finished.stderr


def test_every_record_is_one_json_object_with_time_level_logger_and_message() -> None:
    lines = [json.loads(line) for line in run("json").splitlines()]

    assert [line["message"] for line in lines] == [
        "outside any span",
        "rejected orders[0]@5: bad",
        "cannot reach postgresql://order_ingestor:***@db:5432/orders, retrying",
        "failed",
    ]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "ingestor.consumer"
    assert lines[0]["time"].endswith("Z")
    assert lines[2]["logger"] == "aiokafka" and lines[2]["level"] == "warning"
    assert "ValueError: boom" in lines[3]["exception"]


def test_a_record_in_a_span_names_the_trace_and_the_order() -> None:
    outside, inside, *_ = (json.loads(line) for line in run("json").splitlines())

    assert "trace_id" not in outside and "span_id" not in outside
    assert len(inside["trace_id"]) == 32 and int(inside["trace_id"], 16)
    assert len(inside["span_id"]) == 16 and int(inside["span_id"], 16)
    assert inside["order_id"] == "o-1"


def test_passwords_in_urls_never_reach_the_log() -> None:
    for log_format in ("json", "console"):
        assert "s3cret-pw" not in run(log_format)


def test_the_console_format_is_for_people() -> None:
    text = run("console")

    assert "rejected orders[0]@5: bad" in text
    assert "order_id=o-1" in text
    assert not text.lstrip().startswith("{")
