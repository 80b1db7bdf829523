"""Segment definitions: what parses, and how a bad one says where it is wrong and how to fix it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from recado.domain.segments import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    Attribute,
    AttributeOp,
    Consent,
    ConsentState,
    Created,
    CreatedOp,
    Definition,
    Engagement,
    EngagementOp,
    Group,
    HasTag,
    InList,
    InSegment,
    Match,
    find_path,
    list_ids,
    parse_definition,
    segment_ids,
)
from recado.errors import ValidationFailed

LIST = "lst_" + "a" * 26
SEGMENT = "seg_" + "b" * 26


def error_of(raw: object) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_definition(raw)
    return caught.value


def test_every_kind_of_condition_parses_into_its_dataclass():
    definition = parse_definition(
        {
            "match": "any",
            "conditions": [
                {"field": "list", "op": "in", "value": LIST},
                {"field": "tag", "op": "has", "value": " vip "},
                {"field": "attribute", "name": "city", "op": "equals", "value": "Lisboa"},
                {"field": "attribute", "name": "seats", "op": "gt", "value": 3},
                {"field": "attribute", "name": "renewal", "op": "before", "value": "2026-03-01"},
                {"field": "attribute", "name": "plan", "op": "exists"},
                {"field": "created", "op": "after", "value": "2026-01-01"},
                {"field": "created", "op": "before", "value": "2026-01-01T12:00:00-03:00"},
                {"field": "created", "op": "within_days", "value": 7},
                {"field": "engagement", "op": "clicked_within_days", "value": 30},
                {"field": "engagement", "op": "never_clicked"},
                {"field": "consent", "op": "is", "value": "granted"},
                {"field": "segment", "op": "in", "value": SEGMENT},
                {"match": "all", "conditions": [{"field": "tag", "op": "has", "value": "a"}]},
            ],
            "exclude": [{"field": "consent", "op": "is", "value": "opted_out"}],
        }
    )
    assert definition == Definition(
        match=Match.ANY,
        conditions=(
            InList(LIST),
            HasTag("vip"),
            Attribute("city", AttributeOp.EQUALS, "Lisboa"),
            Attribute("seats", AttributeOp.GT, 3),
            Attribute("renewal", AttributeOp.BEFORE, date(2026, 3, 1)),
            Attribute("plan", AttributeOp.EXISTS, None),
            Created(CreatedOp.AFTER, at=datetime(2026, 1, 1, tzinfo=UTC), whole_day=True),
            Created(CreatedOp.BEFORE, at=datetime(2026, 1, 1, 15, tzinfo=UTC)),
            Created(CreatedOp.WITHIN_DAYS, days=7),
            Engagement(EngagementOp.CLICKED_WITHIN_DAYS, 30),
            Engagement(EngagementOp.NEVER_CLICKED, None),
            Consent(ConsentState.GRANTED),
            InSegment(SEGMENT),
            Group(Match.ALL, (HasTag("a"),)),
        ),
        exclude=(Consent(ConsentState.OPTED_OUT),),
    )


def test_an_empty_definition_means_every_contact():
    assert parse_definition({}) == Definition(match=Match.ALL, conditions=(), exclude=())


def test_an_unknown_operator_names_its_path_and_the_operators_to_use():
    error = error_of(
        {
            "conditions": [
                {"field": "tag", "op": "has", "value": "vip"},
                {"field": "tag", "op": "has", "value": "new"},
                {"field": "attribute", "name": "seats", "op": "bigger", "value": 3},
            ]
        }
    )
    assert error.field == "definition.conditions[2].op"
    assert error.message.startswith('definition.conditions[2].op: "bigger" is not one of equals,')
    assert "contains" in error.message and "exists" in error.message
    assert error.status == 422


@pytest.mark.parametrize(
    ("raw", "field", "hint"),
    [
        ([], "definition", "must be an object"),
        ({"match": "most"}, "definition.match", '"most" is not one of all, any'),
        ({"conditions": {}}, "definition.conditions", "must be a list"),
        ({"filters": []}, "definition.filters", "unknown key"),
        ({"conditions": [{"op": "has"}]}, "definition.conditions[0]", 'needs "field"'),
        (
            {"conditions": [{"field": "colour", "op": "is", "value": 1}]},
            "definition.conditions[0].field",
            '"colour" is not one of list, tag, attribute',
        ),
        (
            {"conditions": [{"field": "list", "op": "in", "value": "newsletter"}]},
            "definition.conditions[0].value",
            "not a list id",
        ),
        (
            {"conditions": [{"field": "tag", "op": "has"}]},
            "definition.conditions[0].value",
            "is required",
        ),
        (
            {"conditions": [{"field": "tag", "op": "has", "value": "a\nb"}]},
            "definition.conditions[0].value",
            "not a tag",
        ),
        (
            {"conditions": [{"field": "attribute", "name": "1st", "op": "exists"}]},
            "definition.conditions[0].name",
            "not an attribute name",
        ),
        (
            {"conditions": [{"field": "attribute", "name": "n", "op": "gt", "value": "3"}]},
            "definition.conditions[0].value",
            '"3" is not a number',
        ),
        (
            {"conditions": [{"field": "attribute", "name": "d", "op": "after", "value": "May"}]},
            "definition.conditions[0].value",
            "YYYY-MM-DD",
        ),
        (
            {"conditions": [{"field": "created", "op": "after", "value": "2026-02-30"}]},
            "definition.conditions[0].value",
            "YYYY-MM-DD",
        ),
        (
            {"conditions": [{"field": "created", "op": "after", "value": "2026-01-01T10:00"}]},
            "definition.conditions[0].value",
            "has no time zone",
        ),
        (
            {"conditions": [{"field": "engagement", "op": "clicked_within_days", "value": 0}]},
            "definition.conditions[0].value",
            "whole number of days from 1",
        ),
        (
            {"conditions": [{"field": "engagement", "op": "never_clicked", "value": 3}]},
            "definition.conditions[0].value",
            "takes no value",
        ),
        (
            {"conditions": [{"field": "consent", "op": "is", "value": "yes"}]},
            "definition.conditions[0].value",
            "granted, none, opted_out",
        ),
        (
            {"conditions": [{"field": "segment", "op": "in", "value": LIST}]},
            "definition.conditions[0].value",
            "not a segment id",
        ),
        (
            {"conditions": [{"field": "tag", "op": "has", "value": "a", "name": "x"}]},
            "definition.conditions[0].name",
            "only attribute conditions",
        ),
        (
            {"exclude": [{"match": "any", "conditions": []}]},
            "definition.exclude[0].conditions",
            "at least one condition",
        ),
        (
            {"conditions": [{"match": "any", "conditions": [{"field": "tag", "op": "x"}]}]},
            "definition.conditions[0].conditions[0].op",
            '"x" is not one of has',
        ),
    ],
)
def test_a_bad_part_is_named_by_its_path_with_what_to_write(raw, field, hint):
    error = error_of(raw)
    assert error.field == field
    assert error.message.startswith(f"{field}: ")
    assert hint in error.message


def test_groups_nest_only_so_deep():
    tag = {"field": "tag", "op": "has", "value": "vip"}
    group: dict = {"match": "any", "conditions": [tag]}
    for _ in range(MAX_DEPTH - 1):
        group = {"match": "any", "conditions": [group]}
    parse_definition({"conditions": [group]})  # exactly the limit
    error = error_of({"conditions": [{"match": "all", "conditions": [group]}]})
    assert "nest at most" in error.message


def test_a_definition_has_at_most_so_many_conditions():
    tag = {"field": "tag", "op": "has", "value": "vip"}
    parse_definition({"conditions": [tag] * MAX_CONDITIONS})
    error = error_of({"conditions": [tag] * MAX_CONDITIONS, "exclude": [tag]})
    assert error.field == "definition.exclude[0]"
    assert f"at most {MAX_CONDITIONS} conditions" in error.message


def test_references_to_lists_and_segments_are_found_in_groups_and_exclusions():
    other = "seg_" + "c" * 26
    definition = parse_definition(
        {
            "conditions": [
                {"match": "any", "conditions": [{"field": "segment", "op": "in", "value": other}]}
            ],
            "exclude": [
                {"field": "list", "op": "in", "value": LIST},
                {"field": "segment", "op": "in", "value": SEGMENT},
            ],
        }
    )
    assert segment_ids(definition) == (other, SEGMENT)
    assert list_ids(definition) == (LIST,)
    assert find_path(definition, InSegment(other)) == "definition.conditions[0].conditions[0]"
    assert find_path(definition, InSegment(SEGMENT)) == "definition.exclude[1]"
