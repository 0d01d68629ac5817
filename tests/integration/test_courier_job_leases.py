"""The periodic jobs' leases (the resync, pruning) on the real database: one replica at a
time runs a job."""

from __future__ import annotations

import asyncio
import itertools
import time

from courier.job_leases import LeasedJob
from order_shared.database import create_pool
from tests.courier_io import CourierUnderTest


def test_a_periodic_job_runs_on_one_replica_at_a_time(courier: CourierUnderTest) -> None:
    """Two replicas' leases of one job on the real database: while one runs it (renewing
    its lease between steps), the other never starts it; once done, it runs about once per
    interval, whichever replica takes it."""
    runs: list[tuple[str, float, float]] = []

    async def replicas() -> None:
        url = courier.service.command.env["DATABASE_URL"]
        pool = create_pool(url, name="leases", max_size=4)
        await pool.open()
        stop = asyncio.Event()
        try:
            jobs = {
                name: LeasedJob(pool, "test-job", interval_seconds=0.2, lease_seconds=2)
                for name in ("a", "b")
            }

            def work(name: str):
                async def steps() -> int:
                    started = time.monotonic()
                    for _ in range(3):
                        await asyncio.sleep(0.5)
                        await jobs[name].renew()
                    runs.append((name, started, time.monotonic()))
                    return 3

                return steps

            tasks = [asyncio.create_task(job.run(work(name), stop)) for name, job in jobs.items()]
            await asyncio.sleep(8)
            stop.set()
            await asyncio.gather(*tasks)
        finally:
            await pool.close()

    asyncio.run(replicas())

    assert len(runs) >= 3, runs
    ordered = sorted(runs, key=lambda run: run[1])
    for (_, _, ended), (name, started, _) in itertools.pairwise(ordered):
        assert started >= ended, f"{name} started while the other replica's run went on"
