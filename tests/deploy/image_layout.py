"""An image's files laid out as its Dockerfile lays them out, and its programs run there.

No Docker engine is needed: the Dockerfile is read instruction by instruction. The builder
stage's `COPY` lines (filtered by .dockerignore, as the build context is) and its `RUN uv ...`
commands (with their bind and cache mounts) run in a root of their own, and the target stage
then takes from it exactly what its `COPY --from=` lines take, plus its own `COPY` lines from
the context, `ENV`, `WORKDIR`, `USER`, `ENTRYPOINT` and `CMD`.

Commands run chrooted into that root, in a private mount namespace where the host's /usr,
/etc, /dev and /proc (read-only where they could be written) and the host's Python stand in
for the base image. So every path is the image's own: `/app/.venv`, `/app/web`, a file's
`Path(__file__).parents[...]`; the checkout is not there to be found by accident; and the
process runs as the image's user. The pinned uv the install script puts in .state/tools
(versions.env's, which must be the Dockerfile's uv image's, checked) stands in for the uv
image, with uv's cache as the cache mount: whatever uv the host has elsewhere is not used.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from devstack.versions import UV

REPO = Path(__file__).resolve().parents[2]
# python:3.11-slim's PATH (its /usr/local/bin prepended to Debian's, hence twice); the
# Dockerfile's ENV lines build on it.
IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_UV_DIR = "/.host-uv"  # where the pinned uv appears in a builder root
# The builder reaches the package index as the host does (its certificates, its proxy).
HOST_NETWORK_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy", "NO_PROXY")


class DockerfileError(AssertionError):
    """The Dockerfile does something this reader does not know how to lay out."""


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


def _ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (excludes?, pattern) pairs, in order: the last match decides."""
    patterns = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part in ("**", "**/"):
                regex += "(?:.*/)?" if part == "**/" else ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            else:
                regex += re.escape(part)
        patterns.append((exclude, re.compile(regex)))
    return patterns


def in_build_context(relative: str) -> bool:
    """Whether Docker sends this file of the repository to the builder (.dockerignore)."""
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for exclude, pattern in _ignore_patterns():
        # As in Docker, a pattern that matches a parent folder matches what is in it.
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            included = not exclude
    return included


def _copy_from_context(source: str, destination: Path) -> None:
    """`COPY source destination` from the build context: a folder's contents, or a file."""
    path = REPO / source
    if path.is_dir():
        sent = [
            file
            for file in sorted(path.rglob("*"))
            if file.is_file() and in_build_context(str(file.relative_to(REPO)))
        ]
        for file in sent:
            target = destination / file.relative_to(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
    elif path.is_file() and in_build_context(source):
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    else:
        raise DockerfileError(f"COPY {source}: not in the build context (.dockerignore?)")


def _host_python_prefix() -> Path:
    return Path(sys.base_prefix).resolve()


@dataclass
class ImageRoot:
    """A folder that is the image's `/`, and how to run a command chrooted into it."""

    root: Path
    env: dict[str, str] = field(
        default_factory=lambda: {"PATH": IMAGE_PATH, "LANG": "C.UTF-8"}  # python:3.11-slim's
    )
    workdir: str = "/"
    user: str = "0:0"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    binds: dict[str, str] = field(default_factory=dict)  # image path -> host path, read-write
    # Entries the Dockerfile's groupadd/useradd add to the base image's /etc/group, /etc/passwd.
    accounts: dict[str, list[str]] = field(default_factory=lambda: {"group": [], "passwd": []})

    def path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def resolve(self, image_path: str) -> str:
        return str(PurePosixPath(self.workdir) / image_path)

    def _mount_script(self) -> str:
        root = shlex.quote(str(self.root))
        lines = ["set -e", "mount --make-rprivate /"]
        for name in ("bin", "lib", "lib64", "sbin"):
            if not os.path.lexists(self.root / name):
                (self.root / name).symlink_to(f"usr/{name}")
        # The host's Python where python:3.11-slim has its own, /usr/local, and where its
        # RUNPATH finds libpython.
        python = str(_host_python_prefix())
        read_only = {"/usr": "/usr", "/usr/local": python, python: python, "/etc": "/etc"}
        for image_path, host in read_only.items():
            self.path(image_path).mkdir(parents=True, exist_ok=True)
            target = shlex.quote(str(self.path(image_path)))
            lines += [
                f"mount --bind {shlex.quote(host)} {target}",
                f"mount -o remount,bind,ro {target}",
            ]
        for name, entries in self.accounts.items():
            if entries:
                merged = self.root / ".accounts" / name
                merged.parent.mkdir(exist_ok=True)
                merged.write_text(Path("/etc", name).read_text() + "".join(entries))
                target = shlex.quote(str(self.path(f"/etc/{name}")))
                lines.append(f"mount --bind {shlex.quote(str(merged))} {target}")
        self.path("tmp").mkdir(exist_ok=True)
        self.path("tmp").chmod(0o1777)
        for name in ("dev", "proc"):
            self.path(name).mkdir(exist_ok=True)
            lines.append(f"mount --rbind /{name} {root}/{name}")
        for image_path, host_path in self.binds.items():
            target = self.path(image_path)
            if Path(host_path).is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            lines.append(f"mount --bind {shlex.quote(host_path)} {shlex.quote(str(target))}")
        self.root.chmod(0o755)  # the image's user walks from here
        return "\n".join(lines)

    def command(self, argv: list[str], env: Mapping[str, str] | None = None) -> list[str]:
        """argv to run `argv` in the image as its user, in its WORKDIR, with its ENV."""
        environment = {**self.env, **(env or {})}
        inner = " ".join(
            [
                "exec chroot",
                f"--userspec={shlex.quote(self.user)}",
                shlex.quote(str(self.root)),
                "env -i",
                *(shlex.quote(f"{key}={value}") for key, value in environment.items()),
                "sh -c",
                shlex.quote(f'cd {shlex.quote(self.workdir)} && exec "$@"'),
                "image",
                *(shlex.quote(arg) for arg in argv),
            ]
        )
        return ["unshare", "--mount", "sh", "-c", f"{self._mount_script()}\n{inner}"]

    def run(
        self, argv: list[str], env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(argv, env), capture_output=True, text=True, timeout=timeout
        )

    def start(self, argv: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen:
        with log.open("w") as output:
            return subprocess.Popen(
                self.command(argv, env), stdout=output, stderr=subprocess.STDOUT
            )

    @property
    def default_argv(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]


def _json_or_shell(text: str) -> list[str]:
    if text.startswith("["):
        return json.loads(text)
    return ["/bin/sh", "-c", text]


def _uv_image_version(dockerfile: Dockerfile) -> str:
    image = dockerfile.global_args.get("UV_IMAGE", "")
    return image.rpartition(":")[2]


def _run_builder(stage: Stage, root: ImageRoot, dockerfile: Dockerfile) -> None:
    """Execute a builder stage: its COPY lines and its `uv` commands."""
    variables = dict(dockerfile.global_args)
    for keyword, rest in stage.instructions:
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            variables[name] = dockerfile.build_args.get(name, default or variables.get(name, ""))
        elif keyword == "ENV":
            for assignment in shlex.split(_expand(rest, {**variables, **root.env})):
                name, _, value = assignment.partition("=")
                root.env[name] = value
        elif keyword == "WORKDIR":
            root.workdir = root.resolve(_expand(rest, variables))
            root.path(root.workdir).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY" and rest.startswith("--from=uv "):
            continue  # the pinned uv stands in (lay_out checks its version)
        elif keyword == "COPY":
            _copy(rest, root, variables, stages={})
        elif keyword == "RUN":
            _run_uv(rest, root, variables)
        else:
            raise DockerfileError(f"the builder stage's {keyword} is not laid out here")


def _run_uv(rest: str, root: ImageRoot, variables: dict[str, str]) -> None:
    """A builder's RUN: each `uv` command chrooted in the builder's root, its bind mounts
    copied in for the command only, its cache mount bound to uv's cache on the host."""
    words = shlex.split(rest)
    mounts = [w.removeprefix("--mount=") for w in words if w.startswith("--mount=")]
    command = [word for word in words if not word.startswith("--mount=")]
    bound: list[Path] = []
    root.binds = {}
    for mount in mounts:
        options = dict(option.split("=", 1) for option in mount.split(","))
        if options["type"] == "cache":
            cache = subprocess.run([UV, "cache", "dir"], capture_output=True, text=True)
            root.binds[options["target"]] = cache.stdout.strip()
        elif options["type"] == "bind":
            source = _expand(options["source"], variables)
            target = root.path(root.resolve(_expand(options["target"], variables)))
            _copy_from_context(source, target)
            bound.append(target)
        else:
            raise DockerfileError(f"RUN --mount type {options['type']} is not laid out here")
    root.binds[f"{HOST_UV_DIR}/uv"] = str(UV.resolve())
    for argv in _steps([_expand(word, variables) for word in command]):
        if argv[0] != "uv":
            raise DockerfileError(f"the builder's RUN {argv[0]} is not laid out here")
        # Bytecode is an optimisation that changes nothing a program finds; skip its time.
        env = {"PATH": f"{HOST_UV_DIR}:{root.env['PATH']}", "UV_COMPILE_BYTECODE": "0"}
        env |= {name: os.environ[name] for name in HOST_NETWORK_VARIABLES if name in os.environ}
        result = root.run(argv, env=env)
        if result.returncode != 0:
            raise DockerfileError(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    root.binds = {}
    for path in bound:  # a bind mount leaves nothing in the layer
        path.unlink()


def _steps(words: list[str]) -> list[list[str]]:
    """`a && b` as [[a], [b]]: the commands of a RUN line."""
    steps: list[list[str]] = [[]]
    for word in words:
        if word == "&&":
            steps.append([])
        else:
            steps[-1].append(word)
    return steps


def _copy(rest: str, root: ImageRoot, variables: Mapping[str, str], stages: Mapping[str, Path]):
    words = shlex.split(_expand(rest, variables))
    source_stage = None
    for word in [w for w in words if w.startswith("--")]:
        if word.startswith("--from="):
            source_stage = word.removeprefix("--from=")
        elif not word.startswith("--chown="):
            raise DockerfileError(f"COPY {word} is not laid out here")
    *sources, destination = [w for w in words if not w.startswith("--")]
    into_folder = destination.endswith("/") or len(sources) > 1
    for source in sources:
        target_path = root.resolve(destination)
        if into_folder and not (REPO / source).is_dir():
            target_path = str(PurePosixPath(target_path) / PurePosixPath(source).name)
        target = root.path(target_path)
        if source_stage is None:
            _copy_from_context(source, target)
            continue
        if source_stage not in stages:
            raise DockerfileError(f"COPY --from={source_stage} is not laid out here")
        origin = stages[source_stage] / source.lstrip("/")
        if PurePosixPath(source) != PurePosixPath(target_path):
            # Shebangs and venv links name their absolute path: it must stay the same.
            raise DockerfileError(f"COPY --from moves {source} to {target_path}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(origin, target, symlinks=True, dirs_exist_ok=True)


def lay_out(
    dockerfile: Path, target: str, folder: Path, build_args: Mapping[str, str] | None = None
) -> ImageRoot:
    """The image `target` of `dockerfile` as a root folder under `folder`."""
    parsed = Dockerfile(dockerfile, build_args or {})
    built: dict[str, Path] = {}
    if not UV.exists():
        raise DockerfileError(f"{UV} is missing: run scripts/install-prerequisites.sh")
    pinned_uv = subprocess.run([UV, "--version"], capture_output=True, text=True).stdout.split()
    chain = parsed.chain(target)
    for name, stage in parsed.stages.items():
        if stage in chain or not any(f"--from={name}" in rest for _, rest in _every(parsed)):
            continue
        if stage.base.startswith("ghcr.io/astral-sh/uv"):
            if pinned_uv[1] != _uv_image_version(parsed):
                raise DockerfileError(f"{UV} is uv {pinned_uv[1]}, not the image's {stage.base}")
            continue
        builder = ImageRoot(folder / name)
        builder.root.mkdir(parents=True)
        _run_builder(stage, builder, parsed)
        built[name] = builder.root
    image = ImageRoot(folder / "image")
    image.root.mkdir(parents=True)
    variables = dict(parsed.global_args)
    for stage in chain:
        for keyword, rest in stage.instructions:
            expanded = _expand(rest, {**variables, **image.env})
            if keyword == "ARG":
                name, _, default = rest.partition("=")
                variables[name] = parsed.build_args.get(name, default or variables.get(name, ""))
            elif keyword == "ENV":
                for assignment in shlex.split(expanded):
                    name, _, value = assignment.partition("=")
                    image.env[name] = value
            elif keyword == "WORKDIR":
                image.workdir = image.resolve(expanded)
                image.path(image.workdir).mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY":
                if "--from=uv" in rest:
                    raise DockerfileError("uv must not reach the runtime image")
                _copy(rest, image, variables, built)
            elif keyword == "USER":
                image.user = expanded
            elif keyword == "ENTRYPOINT":
                image.entrypoint = _json_or_shell(expanded)
                image.cmd = []
            elif keyword == "CMD":
                image.cmd = _json_or_shell(expanded)
            elif keyword == "RUN":
                _add_accounts(expanded, image)
            elif keyword not in ("EXPOSE", "HEALTHCHECK", "LABEL"):
                raise DockerfileError(f"{keyword} is not laid out here")
    for name in built.values():
        shutil.rmtree(name)
    return image


def _add_accounts(command: str, image: ImageRoot) -> None:
    """A runtime stage's RUN: the accounts its groupadd and useradd create; chown changes
    owners only (the image's user reads what it needs either way)."""
    groups: dict[str, str] = {}
    for argv in _steps(shlex.split(command)):
        program, *args = argv
        options = dict(itertools.pairwise(args))
        name = args[-1]
        if program == "groupadd":
            groups[name] = options["--gid"]
            image.accounts["group"].append(f"{name}:x:{options['--gid']}:\n")
        elif program == "useradd":
            gid = groups.get(options["--gid"], options["--gid"])
            home, shell = options.get("--home-dir", "/"), options.get("--shell", "/bin/sh")
            image.accounts["passwd"].append(f"{name}:x:{options['--uid']}:{gid}::{home}:{shell}\n")
        elif program != "chown":
            raise DockerfileError(f"the runtime's RUN {program} is not laid out here")


def _every(parsed: Dockerfile) -> Iterator[tuple[str, str]]:
    """Every instruction of every stage."""
    for stage in parsed.stages.values():
        yield from stage.instructions
