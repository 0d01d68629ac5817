"""`order-producer` as a user runs it: a Kafka that does not answer is named in one line
and the exit status, not left in a traceback."""

from __future__ import annotations

import subprocess
import sys

from devstack.session import free_port


def test_a_kafka_that_does_not_answer_is_named_and_the_exit_status_is_1() -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    finished = subprocess.run(
        [sys.executable, "-m", "producer", "--generate", "1", "--bootstrap-servers", address],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 1
    last_line = finished.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"order-producer: Kafka at {address}: KafkaConnectionError")
    assert "Traceback" not in finished.stderr
