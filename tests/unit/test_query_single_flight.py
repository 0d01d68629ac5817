"""Single-flight: one call per key however many wait; its result or error reaches all."""

from __future__ import annotations

import asyncio

import pytest

from query.informer.single_flight import SingleFlight


async def test_concurrent_callers_for_one_key_share_one_call() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def read() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    waiters = [asyncio.create_task(flights.do("a", read)) for _ in range(100)]
    await asyncio.sleep(0)
    assert len(flights) == 1
    release.set()

    assert await asyncio.gather(*waiters) == [42] * 100
    assert calls == 1
    assert len(flights) == 0


async def test_different_keys_fly_separately() -> None:
    flights: SingleFlight[str, str] = SingleFlight()

    async def echo(key: str) -> str:
        await asyncio.sleep(0)
        return key

    results = await asyncio.gather(*(flights.do(k, lambda k=k: echo(k)) for k in "abc"))

    assert results == ["a", "b", "c"]


async def test_an_error_reaches_every_waiter_and_the_next_call_tries_again() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0)
        raise OSError("database down")

    results = await asyncio.gather(
        *(flights.do("a", failing) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, OSError) for result in results)
    assert attempts == 1

    with pytest.raises(OSError):
        await flights.do("a", failing)
    assert attempts == 2


async def test_a_cancelled_waiter_does_not_cancel_the_call_for_the_others() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def read() -> int:
        await release.wait()
        return 7

    first = asyncio.create_task(flights.do("a", read))
    second = asyncio.create_task(flights.do("a", read))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()

    assert await second == 7
    assert first.cancelled()
