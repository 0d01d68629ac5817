"""Runs the app under the ASGI server `make bench` chose: one process, one uvloop event
loop, HOST:PORT, no access log (the hot path is measured in microseconds). With WORKERS
above 1, granian's own process manager runs that many worker processes on one listening
socket, each building the app (and so its own informer and cache) from the environment.

Granian (Rust HTTP, embedded in our own event loop) won against uvicorn with uvloop and
httptools; uvicorn stays selectable so the comparison can be rerun (ASGI_SERVER).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

import uvloop

if TYPE_CHECKING:
    from litestar.types import ASGIApp

AsgiServer = Literal["granian", "uvicorn"]
# The bench's ceilings also run granian's own interface (RSGI); the service is ASGI.
GranianInterface = Literal["asgi", "rsgi"]

# Granian gives its loggers handlers of its own that print plain text to standard output;
# without them its records reach the root logger, which writes the service's JSON lines.
GRANIAN_LOGGING = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    }
}


StopHook = Callable[[], Awaitable[None]]


# Requests granian serves at once beyond the live streams: its default (128 in all) would
# let 128 open streams hold back every other request.
REQUESTS_BESIDE_STREAMS = 1024

# With several workers, granian's main process waits for each worker to stop after passing
# SIGTERM on, by default for ever. A worker still in its lifespan's start-up when the
# signal comes misses it (granian 2.8 sets its shutdown flag before the worker serves, and
# the server never sees it), and would serve on after the main process is gone. Past this
# many seconds, well inside the pod's 30 s grace, such a worker is killed.
WORKERS_KILL_TIMEOUT_SECONDS = 15


def serve(
    app: ASGIApp,
    host: str,
    port: int,
    server: AsgiServer,
    on_stop: StopHook,
    max_streams: int = 0,
    interface: GranianInterface = "asgi",
) -> None:
    """Serve until SIGTERM or SIGINT; `on_stop` is awaited first (it ends the live
    streams, which the server would otherwise wait for before it stops). Up to
    `max_streams` responses may stay open without holding back the others. `interface`
    "rsgi" (granian only) takes an RSGI app instead."""
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_level="warning",
            access_log=False,
            # uvicorn has no hook before it waits for open responses: it cancels what is
            # left of the streams after this many seconds.
            timeout_graceful_shutdown=5,
        )
    else:
        uvloop.run(_serve_granian(app, host, port, on_stop, max_streams, interface))


async def _serve_granian(
    app: ASGIApp,
    host: str,
    port: int,
    on_stop: StopHook,
    max_streams: int,
    interface: GranianInterface,
) -> None:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    server = Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.RSGI if interface == "rsgi" else Interfaces.ASGI,
        websockets=False,
        backpressure=max_streams + REQUESTS_BESIDE_STREAMS,
        log_level=LogLevels.warning,
        log_dictconfig=GRANIAN_LOGGING,
    )
    loop = asyncio.get_running_loop()

    async def stop() -> None:
        await on_stop()
        server.stop()

    stopping: set[asyncio.Task[None]] = set()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, lambda: stopping.add(loop.create_task(stop())))
    await server.serve()


def serve_workers(factory: str, host: str, port: int, workers: int, max_streams: int) -> None:
    """`workers` granian processes, each calling `factory` ("module:function") for its app;
    granian stops them on SIGTERM or SIGINT."""
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    Granian(
        factory,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        websockets=False,
        backpressure=max_streams + REQUESTS_BESIDE_STREAMS,
        workers_kill_timeout=WORKERS_KILL_TIMEOUT_SECONDS,
        log_level=LogLevels.warning,
        log_dictconfig=GRANIAN_LOGGING,
        factory=True,
    ).serve()
