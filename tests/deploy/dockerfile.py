"""The Dockerfile read as its stages and their instructions, for the checks of what each
image is made of (tests/deploy/test_dockerfiles.py). Running the images is the real
engine's job (tests/deploy/test_containers.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


class DockerfileError(AssertionError):
    """The Dockerfile says something this reader does not understand."""


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _logical_lines(text: str) -> Iterator[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    yield from (line.strip() for line in "\n".join(lines).replace("\\\n", " ").splitlines())


def _expand(text: str, variables: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise DockerfileError(f"${name} is not defined where it is used: {text}")
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


@dataclass
class Dockerfile:
    path: Path
    build_args: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.global_args: dict[str, str] = {}
        self.stages: dict[str, Stage] = {}
        current: Stage | None = None
        for line in _logical_lines(self.path.read_text()):
            if not line:
                continue
            keyword, _, rest = line.partition(" ")
            keyword = keyword.upper()
            if keyword == "FROM":
                match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.IGNORECASE)
                if not match:
                    raise DockerfileError(f"cannot read {line!r}")
                base = _expand(match.group(1), {**self.global_args, **self.build_args})
                current = Stage(match.group(2) or f"stage{len(self.stages)}", base)
                self.stages[current.name] = current
            elif current is None:
                if keyword != "ARG":
                    raise DockerfileError(f"{keyword} before the first FROM")
                name, _, default = rest.strip().partition("=")
                self.global_args[name] = self.build_args.get(name, default)
            else:
                current.instructions.append((keyword, rest.strip()))

    def chain(self, target: str) -> list[Stage]:
        """The target stage and the stages it is built FROM, base first."""
        stages = []
        name = target
        while name in self.stages:
            stages.insert(0, self.stages[name])
            name = self.stages[name].base
        if not stages:
            raise DockerfileError(f"no stage {target} in {self.path}")
        return stages
