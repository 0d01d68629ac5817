"""The one validator of what enters the system: an order document or a status change, as
bytes, becomes the decoded value or an `Invalid` with its class and every problem found.

The ingestor validates each consumed record with it (and dead-letters an `Invalid` with
its class and reason); the query service validates each command's body with it before
publishing, so that what the API accepts is exactly what the ingestor will store.

The verdict is always msgspec's strict decoding plus the business rules. msgspec stops
at the first schema error, while a client wants every problem at once: only when the
verdict is "schema violation" is the document walked field by field (each field decoded
alone with its own type) to list them all; the walk explains, it never decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Annotated, Any, get_args, get_origin

import msgspec

from order_shared.model import (
    Order,
    StatusChange,
    decode_order,
    decode_status_change,
    encode_order,
    outside_utc_years,
)
from order_shared.rules import rule_violations

# A NUL in any string: PostgreSQL text cannot hold it. Matched in the canonical JSON,
# where it can only appear as an unescaped `\u0000` (a literal backslash is `\\`).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# msgspec's messages end with the JSON path: "Expected `int`, got `str` - at `$.a[0]`".
_AT_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with a document: where (a JSON path, `$` for the whole) and why."""

    path: str
    reason: str


class Invalid(msgspec.Struct, frozen=True):
    """A rejected message: its class (the dead-letter header `error.class`), the reason
    as one line, and each problem on its own."""

    error_class: str
    reason: str
    problems: tuple[Problem, ...]


class ValidOrder(msgspec.Struct, frozen=True, gc=False):
    """An accepted order and its canonical JSON (fields in the model's order, UTC dates)."""

    order: Order
    document: bytes


def _invalid(error_class: str, reason: str, path: str = "$") -> Invalid:
    return Invalid(error_class, reason, (Problem(path, reason),))


def envelope_problem(raw: bytes, max_bytes: int) -> Invalid | None:
    """What is wrong with a message before it is read as JSON, or None."""
    if not raw:
        return _invalid("EmptyMessage", "the message value is empty")
    if len(raw) > max_bytes:
        return _invalid(
            "MessageTooLarge", f"the message is {len(raw)} bytes; the limit is {max_bytes}"
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return _invalid("InvalidEncoding", f"the value is not UTF-8: {error}")
    return None


def validate_order(raw: bytes, max_bytes: int) -> ValidOrder | Invalid:
    """The order in `raw`, or every reason it cannot be stored."""
    problem = envelope_problem(raw, max_bytes)
    if problem is not None:
        return problem
    try:
        order = decode_order(raw)
    except msgspec.DecodeError as error:
        return _decode_problem(raw, error, Order)
    violations = rule_violations(order)
    if violations:
        return Invalid(
            "BusinessRuleViolation",
            "; ".join(violations),
            tuple(_rule_problem(violation) for violation in violations),
        )
    document = encode_order(order)
    if b"\\u0000" in document and _NUL_ESCAPE.search(document):
        return Invalid(
            "SchemaViolation",
            "a string holds a NUL character (\\u0000)",
            tuple(
                Problem(path, "holds a NUL character (\\u0000)")
                for path in _nul_paths(msgspec.json.decode(raw), "$")
            ),
        )
    return ValidOrder(order, document)


def validate_status_change(raw: bytes, max_bytes: int) -> StatusChange | Invalid:
    """The status change in `raw`, or every reason it cannot be applied."""
    problem = envelope_problem(raw, max_bytes)
    if problem is not None:
        return problem
    try:
        return decode_status_change(raw)
    except msgspec.DecodeError as error:
        return _decode_problem(raw, error, StatusChange)


def _decode_problem(raw: bytes, error: msgspec.DecodeError, model: type) -> Invalid:
    if not isinstance(error, msgspec.ValidationError):
        return _invalid("MalformedJson", str(error))
    problems = tuple(_struct_problems(model, msgspec.json.decode(raw), "$"))
    # The walk and the decoder agree on what they both check; should they ever not, the
    # decoder's own message still says what is wrong.
    return Invalid("SchemaViolation", str(error), problems or (_message_problem(str(error)),))


def _message_problem(message: str) -> Problem:
    match = _AT_PATH.match(message)
    assert match is not None  # the pattern matches any text
    return Problem(match["path"] or "$", match["reason"])


def _rule_problem(violation: str) -> Problem:
    path, _, reason = violation.partition(": ")
    return Problem(path, reason) if path.startswith("$") else Problem("$", violation)


def _struct_problems(model: type, value: Any, path: str) -> Iterator[Problem]:
    """Every problem of `value` read as the Struct `model`, field by field."""
    if not isinstance(value, dict):
        yield from _value_problems(model, value, path)
        return
    fields = {field.encode_name: field for field in msgspec.structs.fields(model)}
    for name in value:
        if name not in fields:
            yield Problem(f"{path}.{name}", "unknown field")
    for name, field in fields.items():
        if name not in value:
            yield Problem(f"{path}.{name}", "required field is missing")
        else:
            yield from _field_problems(field.type, value[name], f"{path}.{name}")


def _field_problems(annotation: Any, value: Any, path: str) -> Iterator[Problem]:
    kind = get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        yield from _struct_problems(kind, value, path)
    elif get_origin(kind) is list:
        (element,) = get_args(kind)
        # The list itself (is it one, is its length allowed), then each element.
        constraints = get_args(annotation)[1:] if kind is not annotation else ()
        shape = Annotated[(list[Any], *constraints)] if constraints else list[Any]
        yield from _value_problems(shape, value, path)
        for index, item in enumerate(value if isinstance(value, list) else ()):
            yield from _field_problems(element, item, f"{path}[{index}]")
    else:
        yield from _value_problems(annotation, value, path)


def _value_problems(annotation: Any, value: Any, path: str) -> Iterator[Problem]:
    try:
        decoded = msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError as error:
        problem = _message_problem(str(error))
        yield Problem(path + problem.path[1:], problem.reason)
        return
    if isinstance(decoded, datetime) and (reason := outside_utc_years(decoded, path)):
        yield Problem(path, reason.rsplit(" - at ", 1)[0])


def _nul_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _nul_paths(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{path}[{index}]")
