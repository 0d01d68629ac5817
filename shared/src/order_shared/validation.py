"""The one validator of what enters the system: an order document or a status change, as
bytes, becomes the decoded value or an `Invalid` with its class and the problems found.

The ingestor validates each consumed record with it (and dead-letters an `Invalid` with
its class and reason); the query service validates each command's body with it before
publishing, so that what the API accepts is exactly what the ingestor will store.

The verdict is always msgspec's strict decoding plus the business rules. msgspec stops
at the first schema error, while a client wants every problem at once: only when the
verdict is "schema violation" is the document walked field by field (each field decoded
alone with its own type) to list them; the walk explains, it never decides.

Explaining costs a bounded amount of work whatever the document (it runs on the query
service's event loop and on the ingestor's partition): a document larger than
WALK_MAX_BYTES is not walked (msgspec's one message is the answer), a list whose length
is wrong is not walked into, at most MAX_LISTED_PROBLEMS problems are listed and the walk
stops counting at MAX_COUNTED_PROBLEMS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from functools import cache
from itertools import islice
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

# The bounds of explaining a rejected document. Decoding a document generically costs
# about 50 ms per MiB when it is made of tiny values (`[{},{},...]`), so only documents up
# to 64 KiB are walked (a few milliseconds at worst); a walk lists 100 problems (about
# 10 KB of answer) and counts up to 1,000.
WALK_MAX_BYTES = 65_536
MAX_LISTED_PROBLEMS = 100
MAX_COUNTED_PROBLEMS = 1_000


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with a document: where (a JSON path, `$` for the whole) and why."""

    path: str
    reason: str


class Invalid(msgspec.Struct, frozen=True):
    """A rejected message: its class (the dead-letter header `error.class`), the reason
    as one line, and each problem on its own (at most MAX_LISTED_PROBLEMS); `unlisted`
    more were found, and `complete` is false when there may be more still (the document
    was too large to walk, or the count stopped at MAX_COUNTED_PROBLEMS)."""

    error_class: str
    reason: str
    problems: tuple[Problem, ...]
    unlisted: int = 0
    complete: bool = True


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
        listed = violations[:MAX_LISTED_PROBLEMS]
        unlisted = len(violations) - len(listed)
        return Invalid(
            "BusinessRuleViolation",
            "; ".join(listed) + (f"; and {unlisted} more" if unlisted else ""),
            tuple(_rule_problem(violation) for violation in listed),
            unlisted,
        )
    document = encode_order(order)
    if b"\\u0000" in document and _NUL_ESCAPE.search(document):
        # A decoded order is small enough to walk: the model bounds its lists.
        return _bounded(
            "SchemaViolation",
            "a string holds a NUL character (\\u0000)",
            (
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
    message = str(error)
    if len(raw) > WALK_MAX_BYTES:
        return Invalid("SchemaViolation", message, (_message_problem(message),), complete=False)
    invalid = _bounded(
        "SchemaViolation", message, _struct_problems(model, msgspec.json.decode(raw), "$")
    )
    # The walk and the decoder agree on what they both check; should they ever not, the
    # decoder's own message still says what is wrong.
    return invalid if invalid.problems else _invalid("SchemaViolation", message)


def _bounded(error_class: str, reason: str, problems: Iterable[Problem]) -> Invalid:
    """The first MAX_LISTED_PROBLEMS of `problems`, and how many more up to the count's
    bound: the walk behind `problems` stops there."""
    walk = iter(problems)
    listed = tuple(islice(walk, MAX_LISTED_PROBLEMS))
    unlisted = sum(1 for _ in islice(walk, MAX_COUNTED_PROBLEMS - MAX_LISTED_PROBLEMS))
    complete = next(walk, None) is None
    return Invalid(error_class, reason, listed, unlisted, complete)


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
    fields = _fields_of(model)
    for name in value:
        if name not in fields:
            yield Problem(f"{path}.{name}", "unknown field")
    for name, field in fields.items():
        if name not in value:
            yield Problem(f"{path}.{name}", "required field is missing")
        else:
            yield from _field_problems(field.type, value[name], f"{path}.{name}")


@cache
def _fields_of(model: type) -> dict[str, msgspec.structs.FieldInfo]:
    # Reading a Struct's fields evaluates its annotations: half a millisecond a time.
    return {field.encode_name: field for field in msgspec.structs.fields(model)}


class _Field(msgspec.Struct, frozen=True):
    """How to walk a value of one annotation: a Struct's fields, a list's shape then its
    elements, or the value decoded alone."""

    annotation: Any
    struct: type | None = None
    element: Any = None


@cache
def _field_of(annotation: Any) -> _Field:
    kind = get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return _Field(annotation, struct=kind)
    if get_origin(kind) is list:
        (element,) = get_args(kind)
        # The list itself (is it one, is its length allowed), then each element.
        constraints = get_args(annotation)[1:] if kind is not annotation else ()
        shape = Annotated[(list[Any], *constraints)] if constraints else list[Any]
        return _Field(shape, element=element)
    return _Field(annotation)


def _field_problems(annotation: Any, value: Any, path: str) -> Iterator[Problem]:
    field = _field_of(annotation)
    if field.struct is not None:
        yield from _struct_problems(field.struct, value, path)
        return
    wrong = False
    for problem in _value_problems(field.annotation, value, path):
        wrong = True
        yield problem
    # A list that is not one, or whose length is wrong, is one problem: its elements are
    # not walked (a million empty objects would each be a dozen more).
    if field.element is not None and not wrong:
        for index, item in enumerate(value):
            yield from _field_problems(field.element, item, f"{path}[{index}]")


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
