"""Network partitions on one machine: a process (and its children) cut off the loopback
network by moving it into a cgroup v2 of its own and dropping that cgroup's packets with
`iptables -m cgroup --path` (Debian's iptables, versions.env DEBIAN_SOAK_PACKAGES).

Everything is undone however a test ends: the rule deleted on leaving `cut_off()`, and on
leaving `cgroup(...)` the processes moved back to the root cgroup and the cgroup removed.
Needs root (the soak runs as root in CI); `partitions_available()` says why not.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cgroup2_mount() -> Path | None:
    """Where the unified (v2) hierarchy is mounted: /sys/fs/cgroup, or .../unified on a
    hybrid host."""
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def partitions_available() -> str | None:
    """None when partitions can be made here, else why not."""
    if shutil.which("iptables") is None:
        return "iptables is missing: bash scripts/install-debian-packages.sh soak"
    if cgroup2_mount() is None:
        return "no cgroup v2 hierarchy is mounted"
    probe = subprocess.run(["iptables", "-S", "OUTPUT"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"iptables cannot be used here: {probe.stderr.strip()}"
    return None


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True)


class Cgroup:
    """A cgroup v2 of our own that processes are started in (`wrap`): a socket belongs to
    the cgroup its process was in when it was made, so a process moved later would keep
    talking through its old sockets. `cut_off()` drops every packet its processes send
    (their replies and acknowledgements included: a peer's connection stalls, as behind a
    real partition)."""

    def __init__(self, label: str) -> None:
        mount = cgroup2_mount()
        assert mount is not None, partitions_available()
        self.mount = mount
        self.name = f"order-partition-{label}-{uuid.uuid4().hex[:8]}"
        self.path = mount / self.name
        self.path.mkdir()
        self._rule = ("OUTPUT", "-m", "cgroup", "--path", self.name, "-j", "DROP")

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` run inside this cgroup: the shell moves itself in, then execs `argv`
        (same pid, so stopping and killing it work as before)."""
        procs = str(self.path / "cgroup.procs")
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, *argv]

    @contextmanager
    def cut_off(self) -> Iterator[None]:
        """No packet of this cgroup's processes leaves them inside; the rule is deleted
        on leaving, whatever happened."""
        added = _iptables("-I", *self._rule)
        if added.returncode != 0:
            raise RuntimeError(f"iptables refused the partition: {added.stderr.strip()}")
        try:
            yield
        finally:
            _iptables("-D", *self._rule)

    def remove(self) -> None:
        """Delete the rule if still there, move what still runs back to the root cgroup,
        remove the cgroup."""
        while _iptables("-D", *self._rule).returncode == 0:
            pass
        if not self.path.exists():
            return
        for member in (self.path / "cgroup.procs").read_text().split():
            try:
                (self.mount / "cgroup.procs").write_text(member)
            except OSError:
                continue
        self.path.rmdir()


@contextmanager
def cgroup(label: str) -> Iterator[Cgroup]:
    """A `Cgroup` for the block's processes, removed on leaving."""
    group = Cgroup(label)
    try:
        yield group
    finally:
        group.remove()
