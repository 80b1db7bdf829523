"""The attribution rule: coupon, then last click within 7 days, then last delivery within 24 h."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recado.domain.attribution import Credit, Rule, Touch, Windows, attribute

ORDER = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def touch(campaign: str, at: datetime | None, message: str | None = None) -> Touch:
    return Touch(campaign, message or f"msg_{campaign}", f"var_{campaign}", at)


def credit(campaign: str, rule: Rule, message: str | None = None) -> Credit:
    return Credit(campaign, message or f"msg_{campaign}", f"var_{campaign}", rule)


def test_no_touch_no_credit():
    assert attribute(ORDER) is None


def test_the_coupon_wins_over_a_later_click_and_delivery():
    found = attribute(
        ORDER,
        coupon=[touch("coupon", ORDER - 5 * D)],
        clicks=[touch("clicked", ORDER - H)],
        deliveries=[touch("delivered", ORDER - H)],
    )
    assert found == credit("coupon", Rule.COUPON)


def test_a_click_wins_over_a_later_delivery():
    found = attribute(
        ORDER,
        clicks=[touch("clicked", ORDER - 3 * D)],
        deliveries=[touch("delivered", ORDER - H)],
    )
    assert found == credit("clicked", Rule.CLICK)


def test_the_last_click_before_the_order_wins():
    found = attribute(
        ORDER,
        clicks=[
            touch("early", ORDER - 2 * D),
            touch("last", ORDER - 2 * H),
            touch("after", ORDER + timedelta(minutes=1)),
        ],
    )
    assert found == credit("last", Rule.CLICK)


@pytest.mark.parametrize(
    ("age", "credited"),
    [
        (timedelta(0), True),
        (7 * D - timedelta(seconds=1), True),
        (7 * D, True),
        (7 * D + timedelta(seconds=1), False),
        (-timedelta(seconds=1), False),
    ],
)
def test_a_click_counts_up_to_seven_days_before_the_order(age, credited):
    found = attribute(ORDER, clicks=[touch("c", ORDER - age)])
    assert (found == credit("c", Rule.CLICK)) is credited
    assert credited or found is None


@pytest.mark.parametrize(
    ("age", "credited"),
    [(timedelta(0), True), (24 * H, True), (24 * H + timedelta(seconds=1), False), (-H, False)],
)
def test_a_delivery_counts_up_to_a_day_before_the_order(age, credited):
    found = attribute(ORDER, deliveries=[touch("d", ORDER - age)])
    assert (found == credit("d", Rule.DELIVERY)) is credited
    assert credited or found is None


def test_a_click_too_old_falls_back_to_a_recent_delivery():
    found = attribute(
        ORDER,
        clicks=[touch("old", ORDER - 8 * D)],
        deliveries=[touch("recent", ORDER - 3 * H)],
    )
    assert found == credit("recent", Rule.DELIVERY)


def test_the_windows_are_the_workspaces_choice():
    windows = Windows(click=2 * D, delivery=2 * H)
    assert attribute(ORDER, clicks=[touch("c", ORDER - 3 * D)], windows=windows) is None
    assert attribute(ORDER, deliveries=[touch("d", ORDER - 3 * H)], windows=windows) is None
    assert attribute(ORDER, clicks=[touch("c", ORDER - D)], windows=windows) == credit(
        "c", Rule.CLICK
    )
    zero = Windows(click=timedelta(0), delivery=timedelta(0))
    assert attribute(ORDER, clicks=[touch("c", ORDER)], windows=zero) == credit("c", Rule.CLICK)


def test_negative_windows_are_refused():
    with pytest.raises(ValueError, match="not negative"):
        Windows(click=-H)


def test_a_shared_code_of_two_campaigns_goes_to_the_last_one_sent_before_the_order():
    found = attribute(
        ORDER,
        coupon=[
            touch("older", ORDER - 10 * D),
            touch("newer", ORDER - 2 * D),
            touch("later", ORDER + H),
        ],
    )
    assert found == credit("newer", Rule.COUPON)


def test_a_coupon_counts_however_old_it_is():
    assert attribute(ORDER, coupon=[touch("old", ORDER - 400 * D)]) == credit("old", Rule.COUPON)


def test_a_code_the_contact_was_never_sent_still_credits_its_campaign():
    found = attribute(ORDER, coupon=[Touch("shared", None, None, None)])
    assert found == Credit("shared", None, None, Rule.COUPON)


def test_a_code_sent_after_the_order_counts_only_when_nothing_else_does():
    found = attribute(ORDER, coupon=[touch("late", ORDER + H), touch("later", ORDER + 2 * H)])
    assert found == credit("late", Rule.COUPON)
    dated_before = attribute(ORDER, coupon=[touch("late", ORDER + H), touch("ok", ORDER - H)])
    assert dated_before == credit("ok", Rule.COUPON)


def test_same_moment_touches_are_decided_by_the_later_message_id():
    found = attribute(
        ORDER,
        clicks=[touch("a", ORDER - H, "msg_001"), touch("b", ORDER - H, "msg_002")],
    )
    assert found == credit("b", Rule.CLICK, "msg_002")


# --- properties ----------------------------------------------------------------------------

offsets = st.integers(min_value=-10 * 24 * 3600, max_value=10 * 24 * 3600)
touches = st.lists(
    st.builds(
        lambda c, s: Touch(f"cmp_{c}", f"msg_{c}_{s}", None, ORDER + timedelta(seconds=s)),
        st.integers(0, 5),
        offsets,
    ),
    max_size=6,
)


@given(coupon=touches, clicks=touches, deliveries=touches)
def test_the_credit_is_always_one_of_the_candidates_and_never_after_the_order(
    coupon, clicks, deliveries
):
    found = attribute(ORDER, coupon=coupon, clicks=clicks, deliveries=deliveries)
    if found is None:
        assert not coupon
        return
    pool = {Rule.COUPON: coupon, Rule.CLICK: clicks, Rule.DELIVERY: deliveries}[found.rule]
    chosen = next(t for t in pool if t.message_id == found.message_id)
    assert chosen.campaign_id == found.campaign_id
    if found.rule is not Rule.COUPON:
        assert chosen.at is not None and chosen.at <= ORDER
    else:
        assert all(t.at is not None and t.at > ORDER for t in coupon) or chosen.at <= ORDER


@given(clicks=touches, deliveries=touches)
def test_without_a_coupon_a_click_in_the_window_always_beats_any_delivery(clicks, deliveries):
    found = attribute(ORDER, clicks=clicks, deliveries=deliveries)
    in_window = [t for t in clicks if t.at is not None and ORDER - 7 * D <= t.at <= ORDER]
    if in_window:
        assert found is not None and found.rule is Rule.CLICK
        latest = max(t.at for t in in_window if t.at is not None)
        assert found.message_id in {t.message_id for t in in_window if t.at == latest}
