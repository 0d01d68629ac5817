"""Waiting until something is ready: the one polling loop of the local stack, the test
harness and the benchmarks, built on tenacity."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_before_delay,
    wait_fixed,
)

T = TypeVar("T")


def wait_until(
    check: Callable[[], T],
    *,
    what: str,
    timeout: float,
    interval: float = 0.2,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> T:
    """Call `check` every `interval` seconds until it returns a truthy value; return that.

    An exception of a `retry_on` type counts as "not yet"; any other ends the wait at once
    (a server that exited will not become ready). At the deadline the last `retry_on`
    error is raised again, with a note naming `what`; a check that only ever returned a
    falsy value ends in a TimeoutError naming `what`.
    """

    def give_up(state: RetryCallState) -> T:
        outcome = state.outcome
        assert outcome is not None  # tenacity gives up only after an attempt
        error = outcome.exception()
        if error is None:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        error.add_note(f"{what}: still failing after {timeout:g} s")
        raise error

    retrying: Retrying = Retrying(
        stop=stop_before_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_exception_type(retry_on) | retry_if_result(lambda result: not result),
        retry_error_callback=give_up,
    )
    return retrying(check)
