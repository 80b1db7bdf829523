"""Segment definitions: the JSON a marketer saves, parsed and checked into frozen dataclasses.

```
{"match": "all" | "any",
 "conditions": [condition | {"match": ..., "conditions": [...]}, ...],
 "exclude": [condition, ...]}
```
A contact is in the segment when its conditions match (all of them, or any one) and none of
the `exclude` conditions does. docs/segments.md lists every condition. A bad definition is a
ValidationFailed whose field is the path of the bad part (`definition.conditions[2].op`) and
whose message says what to write instead. No I/O here: whether a list or another segment
exists is checked by recado.services.segments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final, NoReturn

from recado.errors import ValidationFailed

MAX_DEPTH: Final = 4  # groups inside groups; the definition itself is depth 0
MAX_CONDITIONS: Final = 100  # every condition and group, includes and excludes together
MAX_DAYS: Final = 3650
MAX_TEXT: Final = 1000  # an attribute value to compare with, as contacts store them

_LIST_ID = re.compile(r"^lst_[0-9a-z]{26}$")
_SEGMENT_ID = re.compile(r"^seg_[0-9a-z]{26}$")
_TAG = re.compile(r"^[\w][\w .:/-]{0,99}$", re.UNICODE)
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_SAFE_INTEGER: Final = 2**53


class Match(StrEnum):
    ALL = "all"
    ANY = "any"


class AttributeOp(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"  # also matches contacts without the attribute
    CONTAINS = "contains"  # case-insensitive, text only
    GT = "gt"  # numbers, and text that is a plain number ("42", "19.90")
    LT = "lt"
    BEFORE = "before"  # dates written YYYY-MM-DD (or ISO times, compared by their day)
    AFTER = "after"
    EXISTS = "exists"


class CreatedOp(StrEnum):
    BEFORE = "before"
    AFTER = "after"
    WITHIN_DAYS = "within_days"


class EngagementOp(StrEnum):
    CLICKED_WITHIN_DAYS = "clicked_within_days"
    NEVER_CLICKED = "never_clicked"
    REPLIED_WITHIN_DAYS = "replied_within_days"
    CONVERTED_WITHIN_DAYS = "converted_within_days"
    NOT_MESSAGED_DAYS = "not_messaged_days"


class ConsentState(StrEnum):
    GRANTED = "granted"  # an opt-in is recorded and in force
    NONE = "none"  # no opt-in recorded, no opt-out either
    OPTED_OUT = "opted_out"  # said STOP (or equivalent) and not START since


@dataclass(frozen=True)
class InList:
    """A subscribed member of the list."""

    list_id: str


@dataclass(frozen=True)
class HasTag:
    tag: str


@dataclass(frozen=True)
class Attribute:
    """`value` is None for `exists`; a date for before/after; text, number or bool otherwise."""

    name: str
    op: AttributeOp
    value: str | int | float | bool | date | None


@dataclass(frozen=True)
class Created:
    """`at` for before/after (a day: `at` is its midnight UTC and `whole_day` is set);
    `days` for within_days."""

    op: CreatedOp
    at: datetime | None = None
    whole_day: bool = False
    days: int | None = None


@dataclass(frozen=True)
class Engagement:
    """`days` is None for never_clicked."""

    op: EngagementOp
    days: int | None


@dataclass(frozen=True)
class Consent:
    state: ConsentState


@dataclass(frozen=True)
class InSegment:
    """Matches another saved segment of the workspace (references may not form a cycle)."""

    segment_id: str


@dataclass(frozen=True)
class Group:
    match: Match
    conditions: tuple[Condition, ...]


Condition = InList | HasTag | Attribute | Created | Engagement | Consent | InSegment | Group


@dataclass(frozen=True)
class Definition:
    match: Match
    conditions: tuple[Condition, ...]  # empty: every contact of the workspace
    exclude: tuple[Condition, ...] = ()


# --- parsing ---------------------------------------------------------------------------------


def parse_definition(raw: object, path: str = "definition") -> Definition:
    """Check a definition as sent (decoded JSON) and return it typed; see the module doc."""
    obj = _object(raw, path, ("match", "conditions", "exclude"))
    budget = _Budget()
    match = _match(obj.get("match", "all"), f"{path}.match")
    conditions = _conditions(obj.get("conditions", []), f"{path}.conditions", 0, budget)
    exclude = _conditions(obj.get("exclude", []), f"{path}.exclude", 0, budget)
    return Definition(match=match, conditions=conditions, exclude=exclude)


class _Budget:
    """Counts conditions across the whole definition, to refuse oversized ones early."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, path: str) -> None:
        self.used += 1
        if self.used > MAX_CONDITIONS:
            _fail(path, f"a segment has at most {MAX_CONDITIONS} conditions; split it in two")


def _conditions(raw: object, path: str, depth: int, budget: _Budget) -> tuple[Condition, ...]:
    if not isinstance(raw, list):
        _fail(path, "must be a list of conditions")
    return tuple(_condition(item, f"{path}[{i}]", depth, budget) for i, item in enumerate(raw))


def _condition(raw: object, path: str, depth: int, budget: _Budget) -> Condition:
    budget.take(path)
    if isinstance(raw, dict) and "field" not in raw and "conditions" in raw:
        return _group(raw, path, depth + 1, budget)
    obj = _object(raw, path, ("field", "op", "value", "name"))
    if "field" not in obj:
        _fail(
            path,
            'needs "field" (one of ' + ", ".join(_FIELDS) + ") or is a group "
            'with "match" and "conditions"',
        )
    field = obj["field"]
    parser = _FIELDS.get(field) if isinstance(field, str) else None
    if parser is None:
        _fail(f"{path}.field", f"{_show(field)} is not one of {', '.join(_FIELDS)}")
    if field != "attribute" and "name" in obj:
        _fail(f"{path}.name", 'only attribute conditions have a "name"')
    return parser(obj, path)


def _group(raw: Mapping[str, Any], path: str, depth: int, budget: _Budget) -> Group:
    obj = _object(raw, path, ("match", "conditions"))
    if depth > MAX_DEPTH:
        _fail(path, f"groups nest at most {MAX_DEPTH} deep; flatten this one")
    conditions = _conditions(obj["conditions"], f"{path}.conditions", depth, budget)
    if not conditions:
        _fail(f"{path}.conditions", "a group needs at least one condition")
    return Group(match=_match(obj.get("match", "all"), f"{path}.match"), conditions=conditions)


def _list(obj: Mapping[str, Any], path: str) -> InList:
    _op(obj, path, ("in",))
    value = _value(obj, path)
    if not isinstance(value, str) or not _LIST_ID.match(value):
        _fail(f"{path}.value", f"{_show(value)} is not a list id (lst_ followed by 26 characters)")
    return InList(value)


def _tag(obj: Mapping[str, Any], path: str) -> HasTag:
    _op(obj, path, ("has",))
    value = _value(obj, path)
    tag = value.strip() if isinstance(value, str) else None
    if not tag or not _TAG.match(tag):
        _fail(
            f"{path}.value",
            f"{_show(value)} is not a tag: use letters, digits, spaces, '.', ':', '/' or '-'",
        )
    return HasTag(tag)


def _attribute(obj: Mapping[str, Any], path: str) -> Attribute:
    name = obj.get("name")
    if not isinstance(name, str) or not _ATTRIBUTE.match(name):
        _fail(
            f"{path}.name",
            f"{_show(name)} is not an attribute name: a letter or '_', then letters, digits "
            "or '_' (at most 64)",
        )
    op = AttributeOp(_op(obj, path, tuple(AttributeOp)))
    if op is AttributeOp.EXISTS:
        if obj.get("value", True) is not True:
            _fail(
                f"{path}.value",
                "exists takes no value; to find contacts without the "
                "attribute, put the condition in exclude",
            )
        return Attribute(name, op, None)
    value = _value(obj, path)
    where = f"{path}.value"
    if op in (AttributeOp.BEFORE, AttributeOp.AFTER):
        return Attribute(name, op, _day(value, where))
    if op in (AttributeOp.GT, AttributeOp.LT):
        return Attribute(name, op, _number(value, where))
    if op is AttributeOp.CONTAINS:
        if not isinstance(value, str) or not value:
            _fail(where, "contains compares with some text; write the text to look for")
        return Attribute(name, op, _text(value, where))
    if isinstance(value, bool):
        return Attribute(name, op, value)
    if isinstance(value, int | float):
        return Attribute(name, op, _number(value, where))
    if isinstance(value, str):
        return Attribute(name, op, _text(value, where))
    _fail(where, f"{_show(value)} is not text, a number, true or false")


def _created(obj: Mapping[str, Any], path: str) -> Created:
    op = CreatedOp(_op(obj, path, tuple(CreatedOp)))
    value = _value(obj, path)
    if op is CreatedOp.WITHIN_DAYS:
        return Created(op, days=_days(value, f"{path}.value"))
    if isinstance(value, str) and _DATE.match(value):
        day = _day(value, f"{path}.value")
        return Created(op, at=datetime(day.year, day.month, day.day, tzinfo=UTC), whole_day=True)
    hint = "a day (2026-01-31) or an ISO 8601 time with a zone (2026-01-31T09:00:00Z)"
    if not isinstance(value, str):
        _fail(f"{path}.value", f"{_show(value)} is not {hint}")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{path}.value", f"{_show(value)} is not {hint}")
    if at.tzinfo is None:
        _fail(f"{path}.value", f"{_show(value)} has no time zone; write {hint}")
    return Created(op, at=at.astimezone(UTC))


def _engagement(obj: Mapping[str, Any], path: str) -> Engagement:
    op = EngagementOp(_op(obj, path, tuple(EngagementOp)))
    if op is EngagementOp.NEVER_CLICKED:
        if obj.get("value") is not None:
            _fail(f"{path}.value", "never_clicked takes no value")
        return Engagement(op, None)
    return Engagement(op, _days(_value(obj, path), f"{path}.value"))


def _consent(obj: Mapping[str, Any], path: str) -> Consent:
    _op(obj, path, ("is",))
    value = _value(obj, path)
    states = ", ".join(ConsentState)
    if not isinstance(value, str) or value not in set(ConsentState):
        _fail(f"{path}.value", f"{_show(value)} is not one of {states}")
    return Consent(ConsentState(value))


def _segment(obj: Mapping[str, Any], path: str) -> InSegment:
    _op(obj, path, ("in",))
    value = _value(obj, path)
    if not isinstance(value, str) or not _SEGMENT_ID.match(value):
        _fail(
            f"{path}.value", f"{_show(value)} is not a segment id (seg_ followed by 26 characters)"
        )
    return InSegment(value)


_FIELDS: dict[str, Callable[[Mapping[str, Any], str], Condition]] = {
    "list": _list,
    "tag": _tag,
    "attribute": _attribute,
    "created": _created,
    "engagement": _engagement,
    "consent": _consent,
    "segment": _segment,
}


# --- small checks ----------------------------------------------------------------------------


def _object(raw: object, path: str, keys: Sequence[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        _fail(path, f"must be an object with {', '.join(keys)}")
    for key in raw:
        if key not in keys:
            _fail(f"{path}.{key}", f"unknown key; use {', '.join(keys)}")
    return raw


def _match(raw: object, path: str) -> Match:
    if not isinstance(raw, str) or raw not in set(Match):
        _fail(path, f"{_show(raw)} is not one of all, any")
    return Match(raw)


def _op(obj: Mapping[str, Any], path: str, ops: Sequence[str]) -> str:
    op = obj.get("op")
    if not isinstance(op, str) or op not in ops:
        _fail(f"{path}.op", f"{_show(op)} is not one of {', '.join(ops)}")
    return op


def _value(obj: Mapping[str, Any], path: str) -> Any:
    if obj.get("value") is None:
        _fail(f"{path}.value", "is required")
    return obj["value"]


def _text(value: str, path: str) -> str:
    if len(value) > MAX_TEXT or "\x00" in value:
        _fail(path, f"text to compare with has at most {MAX_TEXT} characters and no NUL")
    return value


def _number(value: object, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(path, f"{_show(value)} is not a number")
    if value != value or abs(value) > MAX_SAFE_INTEGER:  # NaN, or beyond exact integers
        _fail(path, f"{_show(value)} is not a number between -2^53 and 2^53")
    return value


def _days(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        _fail(path, f"{_show(value)} is not a whole number of days from 1 to {MAX_DAYS}")
    return value


def _day(value: object, path: str) -> date:
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    _fail(path, f"{_show(value)} is not a day written YYYY-MM-DD, such as 2026-01-31")


def _show(value: object) -> str:
    if isinstance(value, str):
        return '"' + (value if len(value) <= 40 else value[:40] + "…") + '"'
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _fail(path: str, problem: str) -> NoReturn:
    raise ValidationFailed(f"{path}: {problem}.", field=path)


# --- reading a definition --------------------------------------------------------------------


def walk(definition: Definition) -> Iterator[Condition]:
    """Every condition, groups' members included, includes then excludes."""
    stack: list[Condition] = [*definition.conditions, *definition.exclude]
    while stack:
        condition = stack.pop(0)
        yield condition
        if isinstance(condition, Group):
            stack[:0] = condition.conditions


def segment_ids(definition: Definition) -> tuple[str, ...]:
    """The saved segments the definition refers to, in order, each once."""
    found = (c.segment_id for c in walk(definition) if isinstance(c, InSegment))
    return tuple(dict.fromkeys(found))


def list_ids(definition: Definition) -> tuple[str, ...]:
    found = (c.list_id for c in walk(definition) if isinstance(c, InList))
    return tuple(dict.fromkeys(found))


def find_path(definition: Definition, wanted: Condition, path: str = "definition") -> str:
    """The path of the first condition equal to `wanted`, for error messages."""
    for key, items in (("conditions", definition.conditions), ("exclude", definition.exclude)):
        found = _find(items, wanted, f"{path}.{key}")
        if found:
            return found
    return path


def _find(items: tuple[Condition, ...], wanted: Condition, path: str) -> str | None:
    for i, item in enumerate(items):
        here = f"{path}[{i}]"
        if item == wanted:
            return here
        if isinstance(item, Group):
            found = _find(item.conditions, wanted, f"{here}.conditions")
            if found:
                return found
    return None
