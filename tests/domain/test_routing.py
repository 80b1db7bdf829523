"""Routing: longest prefix, then priority, failover past connections that are down."""

from recado.domain.routing import RouteRule, candidates

RULES = [
    RouteRule("", "sim", 0),
    RouteRule("55", "smpp-br", 0),
    RouteRule("55", "twilio", 1),
    RouteRule("5511", "smpp-sp", 5),
]
ALL = {"sim", "smpp-br", "twilio", "smpp-sp"}


def test_longest_prefix_wins_then_priority_then_the_catch_all():
    assert candidates(
        "+5511912345678", RULES, bound_connection=None, default="sim", available=ALL
    ) == [
        "smpp-sp",
        "smpp-br",
        "twilio",
        "sim",
    ]
    assert candidates(
        "+14155550100", RULES, bound_connection=None, default="sim", available=ALL
    ) == ["sim"]


def test_a_connection_that_is_down_is_skipped_for_the_next():
    up = ALL - {"smpp-sp", "smpp-br"}
    assert (
        candidates("+5511912345678", RULES, bound_connection=None, default="sim", available=up)[0]
        == "twilio"
    )


def test_a_bound_sender_only_goes_through_its_own_connection():
    assert candidates(
        "+5511912345678", RULES, bound_connection="twilio", default="sim", available=ALL
    ) == ["twilio"]
    assert (
        candidates(
            "+5511912345678", RULES, bound_connection="twilio", default="sim", available={"sim"}
        )
        == []
    )


def test_no_routes_means_the_default_and_no_match_means_nothing():
    assert candidates("+4479", [], bound_connection=None, default="sim", available={"sim"}) == [
        "sim"
    ]
    only_br = [RouteRule("55", "smpp-br")]
    assert candidates("+4479", only_br, bound_connection=None, default="sim", available=ALL) == []
