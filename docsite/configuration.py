"""The configuration reference, generated from the settings classes: every environment
variable each program reads, with its default, its bounds and its description (the
field's docstring). A setting added to a class is on the page at the next build."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from pathlib import Path

import annotated_types
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Program:
    """A program and the settings class it reads at start."""

    name: str
    settings: type[BaseSettings]
    reads: str  # who runs it


def programs() -> list[Program]:
    from courier.settings import CourierSettings
    from ingestor.settings import IngestorSettings
    from order_migrations.job import MigrationSettings
    from order_shared.settings import ServiceSettings
    from query.settings import QuerySettings

    return [
        Program("ingestor", IngestorSettings, "`order-ingestor`"),
        Program("query", QuerySettings, "`order-query`, each replica"),
        Program("courier", CourierSettings, "`order-courier`"),
        Program("producer", ServiceSettings, "`order-producer` (Kafka and telemetry only)"),
        Program("migrations", MigrationSettings, "`order-migrate`, the release's Job"),
    ]


def variable(settings: type[BaseSettings], name: str, field: FieldInfo) -> str:
    prefix = settings.model_config.get("env_prefix", "")
    return f"{prefix}{field.alias or name}".upper()


def variables(settings: type[BaseSettings]) -> dict[str, FieldInfo]:
    """Environment variable -> field, in the class's order."""
    return {variable(settings, name, field): field for name, field in settings.model_fields.items()}


def default(field: FieldInfo) -> str:
    value = field.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, Path):
        try:
            return f"`{value.relative_to(REPOSITORY)}/` of the checkout"
        except ValueError:
            return f"`{value}`"
    return f"`{value}`"


# Constraint -> (its attribute, how to say it).
_BOUNDS = {
    annotated_types.Ge: ("ge", "≥ {}"),
    annotated_types.Gt: ("gt", "> {}"),
    annotated_types.Le: ("le", "≤ {}"),
    annotated_types.Lt: ("lt", "< {}"),
    annotated_types.MinLen: ("min_length", "at least {} characters"),
    annotated_types.MaxLen: ("max_length", "at most {} characters"),
}


# A pattern that only lists words (`^(DEBUG|INFO)$`): said as the words, since a `|` cannot
# stand in a Markdown table's cell.
_ALTERNATIVES = re.compile(r"\^\(([\w|]+)\)\$")


def bounds(field: FieldInfo) -> str:
    """What a value must be: numeric bounds, lengths, a pattern or the allowed values."""
    said = []
    for constraint in field.metadata:
        for kind, (attribute, template) in _BOUNDS.items():
            if isinstance(constraint, kind):
                value = getattr(constraint, attribute)
                said.append(
                    "not empty"
                    if (kind, value) == (annotated_types.MinLen, 1)
                    else template.format(_number(value))
                )
        pattern = getattr(constraint, "pattern", None)
        if pattern and (choices := _ALTERNATIVES.fullmatch(pattern)):
            said.append("one of " + ", ".join(f"`{c}`" for c in choices.group(1).split("|")))
        elif pattern:
            said.append(f"matches `{pattern}`")
    if typing.get_origin(field.annotation) is typing.Literal:
        said.append("one of " + ", ".join(f"`{v}`" for v in typing.get_args(field.annotation)))
    return "; ".join(said)


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table(program: Program) -> str:
    rows = [
        "| variable | default | bounds | what it does |",
        "|---|---|---|---|",
    ]
    for name, field in variables(program.settings).items():
        rows.append(
            f"| `{name}` | {_cell(default(field))} | {_cell(bounds(field))} "
            f"| {_cell(field.description or '')} |"
        )
    return "\n".join(rows)


def markdown() -> str:
    """One section per program, each with every variable its settings class reads."""
    sections = []
    for program in programs():
        sections.append(
            f"### {program.name}\n\n"
            f"Read by {program.reads}, from `{program.settings.__module__}."
            f"{program.settings.__name__}`.\n\n{table(program)}\n"
        )
    return "\n".join(sections)
