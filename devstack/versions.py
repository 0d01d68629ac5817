"""The pinned version of every tool the project installs (`versions.env`), and what this
machine has of each.

`python -m devstack.versions` prints each pin beside the version found and exits 1 when
any differs or is missing, so CI proves the machine it ran on is the pinned one.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VERSIONS_FILE = REPO / "versions.env"
# Where the install scripts put the tools they build or download (git-ignored).
TOOLS = REPO / ".state" / "tools"
TOOLS_BIN = TOOLS / "bin"
UV = TOOLS_BIN / "uv"
KAFKA_LIBS = REPO / ".state" / "kafka-libs"


def read_pins(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """`versions.env` as a dict: `NAME=value` lines, values quoted as the shell quotes them."""
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"{path}:{number}: not a NAME=value line: {line!r}")
        words = shlex.split(value)
        if len(words) > 1:
            raise ValueError(f"{path}:{number}: quote a value with spaces: {line!r}")
        pins[name] = words[0] if words else ""
    return pins


PINS = read_pins()


def pin(name: str) -> str:
    """The pinned value `name`, or a KeyError naming the file it is missing from."""
    try:
        return PINS[name]
    except KeyError:
        raise KeyError(f"{name} is not pinned in {VERSIONS_FILE}") from None


def debian_pins(group: str) -> dict[str, str]:
    """Package name → exact version, for a group of `versions.env` (`DEBIAN_PACKAGES`, …)."""
    return dict(spec.split("=", 1) for spec in pin(group).split())


@dataclass(frozen=True)
class Found:
    tool: str
    pinned: str
    found: str | None  # None: not installed

    @property
    def matches(self) -> bool:
        return self.found == self.pinned


def _output(*argv: str | Path) -> str | None:
    try:
        result = subprocess.run([str(arg) for arg in argv], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _recorded_version(name: str) -> str | None:
    """The version an install script recorded beside the tool it built (`<name>.version`)."""
    path = TOOLS / f"{name}.version"
    return path.read_text().strip() if path.is_file() else None


def _debian_version(package: str) -> str | None:
    status = _output("dpkg-query", "-W", "-f=${Status}\t${Version}", package)
    if status is None:
        return None
    state, _, version = status.partition("\t")
    return version if state == "install ok installed" else None


def _uv_version() -> str | None:
    output = _output(UV, "--version")  # "uv 0.13.9 (…)"
    return output.split()[1] if output else None


def _kafka_version() -> str | None:
    jars = sorted(KAFKA_LIBS.glob("kafka_2.13-*.jar"))
    return jars[0].name.removeprefix("kafka_2.13-").removesuffix(".jar") if jars else None


def _helm_version() -> str | None:
    if not (TOOLS_BIN / "helm").is_file():
        return None
    return _output(TOOLS_BIN / "helm", "version", "--template", "{{.Version}}")


def found_versions() -> Iterator[Found]:
    """Every pinned tool and what is installed of it, in `versions.env`'s order."""
    yield Found("uv (.state/tools/bin/uv)", pin("UV_VERSION"), _uv_version())
    groups = (
        "DEBIAN_PACKAGES",
        "DEBIAN_BROWSER_PACKAGES",
        "DEBIAN_BENCH_PACKAGES",
        "DEBIAN_SOAK_PACKAGES",
    )
    for group in (*groups, "DEBIAN_IMAGE_PACKAGES"):
        for package, version in debian_pins(group).items():
            yield Found(f"Debian {package}", version, _debian_version(package))
    yield Found("Kafka jars (.state/kafka-libs)", pin("KAFKA_VERSION"), _kafka_version())
    yield Found("helm", pin("HELM_VERSION"), _helm_version())
    recorded = {
        "jaeger": "JAEGER_MODULE_VERSION",
        "starlark": "STARLARK_VERSION",
        "compose-spec": "COMPOSE_GO_VERSION",
        "docker-buildx": "BUILDX_VERSION",
        "docker-compose": "COMPOSE_VERSION",
    }
    for name, pinned in recorded.items():
        yield Found(f"{name} (as built)", pin(pinned), _recorded_version(name))


def main() -> int:
    rows = list(found_versions())
    width = max(len(row.tool) for row in rows)
    for row in rows:
        mark = "ok" if row.matches else "DIFFERS"
        print(f"{row.tool:<{width}}  pinned {row.pinned:<34} found {row.found or '(none)'}  {mark}")
    differing = [row.tool for row in rows if not row.matches]
    if differing:
        print(f"\n{len(differing)} not at their pin: {', '.join(differing)}", file=sys.stderr)
        print("install them (.ci/run's steps) or bump versions.env on purpose", file=sys.stderr)
        return 1
    print(f"\nevery tool at its pin ({VERSIONS_FILE.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
