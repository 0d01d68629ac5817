"""devstack.readiness.wait_until: the one polling loop behind every readiness wait and
`eventually`."""

from __future__ import annotations

import pytest

from devstack.readiness import wait_until


def test_returns_the_first_truthy_value_after_retrying_the_listed_errors() -> None:
    answers = iter([ConnectionError("refused"), None, 0, "ready"])

    def check() -> str | None:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    result = wait_until(check, what="server", timeout=5, interval=0.01, retry_on=ConnectionError)

    assert result == "ready"


def test_an_error_not_listed_ends_the_wait_at_once() -> None:
    calls = []

    def check() -> bool:
        calls.append(1)
        raise RuntimeError("the server exited with 1")

    with pytest.raises(RuntimeError, match="exited"):
        wait_until(check, what="server", timeout=5, interval=0.01, retry_on=ConnectionError)
    assert len(calls) == 1


def test_at_the_deadline_the_last_listed_error_is_raised_with_a_note() -> None:
    def check() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError, match="refused") as raised:
        wait_until(check, what="Redis on port 1", timeout=0.1, interval=0.01, retry_on=OSError)
    assert raised.value.__notes__ == ["Redis on port 1: still failing after 0.1 s"]


def test_a_check_that_never_turns_true_ends_in_a_timeout_naming_what() -> None:
    with pytest.raises(TimeoutError, match=r"the orders stored: not within 0\.1 s"):
        wait_until(lambda: False, what="the orders stored", timeout=0.1, interval=0.01)
