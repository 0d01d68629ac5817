"""How to run one local server: its argv, the user it runs as, and the signal that stops it
cleanly. `make up` hands this to supervisord; the test harness runs it with Popen."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class ServerCommand:
    name: str
    argv: list[str]
    user: str | None = None
    stop_signal: signal.Signals = signal.SIGTERM
    env: dict[str, str] = field(default_factory=dict)


class RunningServer:
    """A server started by us, stopped by its own pid."""

    def __init__(self, command: ServerCommand, log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                self.command.argv,
                user=self.command.user,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.command.env},
                start_new_session=True,
            )

    def restart(self, **env: str) -> None:
        """Stop (if running) and start again, with `env` added to the environment."""
        self.stop()
        self.command = replace(self.command, env={**self.command.env, **env})
        self.process = self._spawn()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(self.command.stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        self.process.kill()
        self.process.wait()

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)
