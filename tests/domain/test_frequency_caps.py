"""Frequency caps: at most N marketing texts per rolling window, and smart-sending gaps."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recado.domain.frequency_caps import FrequencyPolicy, check_frequency

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DEFAULT = FrequencyPolicy()
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def ago(*hours: float) -> list[datetime]:
    return [NOW - timedelta(hours=h) for h in hours]


@pytest.mark.parametrize(
    ("sent_at", "allowed", "next_allowed_at"),
    [
        pytest.param([], True, None, id="never-texted"),
        pytest.param(ago(1, 5), True, None, id="two-in-the-window"),
        pytest.param(ago(1, 5, 23), False, NOW + H, id="three-in-the-window"),
        pytest.param(ago(23, 1, 5), False, NOW + H, id="unordered-input"),
        pytest.param(ago(1, 5, 24), True, None, id="exactly-24-hours-ago-has-left-the-window"),
        pytest.param([NOW - 24 * H + US, *ago(1, 5)], False, NOW + US, id="just-inside-the-window"),
        pytest.param(ago(1, 2, 3, 4, 30), False, NOW + 21 * H, id="four-in-the-window"),
        pytest.param(ago(25, 26, 30, 48), True, None, id="all-older-than-the-window"),
        pytest.param([NOW, *ago(1, 2)], False, NOW + 22 * H, id="one-sent-this-instant"),
        pytest.param(
            [NOW + H, *ago(1, 2)], False, NOW + 22 * H, id="one-stamped-in-the-future-counts"
        ),
    ],
)
def test_the_cap_counts_texts_in_the_rolling_window(
    sent_at: list[datetime], allowed: bool, next_allowed_at: datetime | None
):
    verdict = check_frequency(sent_at, NOW, DEFAULT)
    assert verdict.allowed is allowed
    assert verdict.next_allowed_at == next_allowed_at
    assert verdict.reason == (None if allowed else "frequency_cap")


def test_the_detail_reads_like_a_sentence():
    assert check_frequency(ago(1), NOW).detail == (
        "1 marketing text in the last 24 hours; the cap is 3."
    )
    assert check_frequency(ago(1, 2, 3.5), NOW).detail == (
        "3 marketing texts in the last 24 hours; the cap is 3. "
        "The next can go in 20 hours 30 minutes."
    )
    weekly = FrequencyPolicy(max_messages=5, window=timedelta(days=7))
    assert "in the last 7 days; the cap is 5." in check_frequency([], NOW, weekly).detail


def test_a_configured_cap_and_window_apply():
    two_per_hour = FrequencyPolicy(max_messages=2, window=H)
    verdict = check_frequency([NOW - timedelta(minutes=m) for m in (10, 50)], NOW, two_per_hour)
    assert not verdict.allowed
    assert verdict.next_allowed_at == NOW + timedelta(minutes=10)


def test_texts_stamped_in_other_offsets_are_compared_as_instants():
    sao_paulo = timezone(timedelta(hours=-3))
    sent = [t.astimezone(sao_paulo) for t in ago(1, 2, 3)]
    verdict = check_frequency(sent, NOW.astimezone(timezone(timedelta(hours=9))), DEFAULT)
    assert not verdict.allowed
    assert verdict.next_allowed_at == NOW + 21 * H


# --- smart sending --------------------------------------------------------------------

GAP = FrequencyPolicy(min_gap=timedelta(hours=4))


@pytest.mark.parametrize(
    ("sent_at", "allowed", "next_allowed_at"),
    [
        pytest.param(ago(2), False, NOW + 2 * H, id="texted-two-hours-ago"),
        pytest.param(ago(4), True, None, id="exactly-the-gap-ago"),
        pytest.param([NOW - 4 * H + US], False, NOW + US, id="just-inside-the-gap"),
        pytest.param(ago(10, 3, 30), False, NOW + H, id="the-latest-text-counts-in-any-order"),
    ],
)
def test_smart_sending_skips_a_contact_texted_within_the_gap(
    sent_at: list[datetime], allowed: bool, next_allowed_at: datetime | None
):
    verdict = check_frequency(sent_at, NOW, GAP)
    assert verdict.allowed is allowed
    assert verdict.next_allowed_at == next_allowed_at
    assert verdict.reason == (None if allowed else "smart_sending")


def test_smart_sending_is_off_by_default():
    assert check_frequency(ago(0), NOW).allowed


def test_smart_sending_explains_itself():
    detail = check_frequency(ago(1.5), NOW, GAP).detail
    assert (
        "Smart sending waits 4 hours between texts, and the last one went 1 hour 30 minutes ago."
        in detail
    )
    assert detail.endswith("The next can go in 2 hours 30 minutes.")
    assert "the last one went just now" in check_frequency([NOW], NOW, GAP).detail


def test_when_both_rules_block_the_cap_is_the_reason_and_both_must_clear():
    policy = FrequencyPolicy(max_messages=2, window=timedelta(hours=3), min_gap=timedelta(hours=4))
    verdict = check_frequency(ago(1, 2), NOW, policy)
    assert verdict.reason == "frequency_cap"
    assert verdict.next_allowed_at == NOW + 3 * H  # the gap clears after the cap does
    assert "the cap is 2" in verdict.detail and "Smart sending" in verdict.detail


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_messages": 0},
        {"window": timedelta(0)},
        {"min_gap": timedelta(0)},
        {"min_gap": -H},
    ],
)
def test_policies_that_make_no_sense_are_refused(arguments: dict[str, object]):
    with pytest.raises(ValueError):
        FrequencyPolicy(**arguments)  # type: ignore[arg-type]


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        check_frequency([], datetime(2026, 3, 10, 12), DEFAULT)
    with pytest.raises(ValueError, match="sent_at must be timezone-aware"):
        check_frequency([datetime(2026, 3, 10, 11)], NOW, DEFAULT)


# --- properties -----------------------------------------------------------------------

offsets = st.integers(-3 * 24 * 3600 * 10**6, 3600 * 10**6).map(
    lambda us: NOW + timedelta(microseconds=us)
)
policies = st.builds(
    FrequencyPolicy,
    max_messages=st.integers(1, 5),
    window=st.integers(60, 3 * 24 * 3600).map(lambda s: timedelta(seconds=s)),
    min_gap=st.one_of(st.none(), st.integers(60, 12 * 3600).map(lambda s: timedelta(seconds=s))),
)


def expected_allowed(sent_at: list[datetime], now: datetime, policy: FrequencyPolicy) -> bool:
    in_window = sum(1 for t in sent_at if t > now - policy.window)
    gap_ok = policy.min_gap is None or all(t <= now - policy.min_gap for t in sent_at)
    return in_window < policy.max_messages and gap_ok


@settings(max_examples=400)
@given(sent_at=st.lists(offsets, max_size=8), policy=policies, seed=st.randoms())
def test_allowed_exactly_when_under_the_cap_and_outside_the_gap(
    sent_at: list[datetime], policy: FrequencyPolicy, seed: random.Random
):
    verdict = check_frequency(sent_at, NOW, policy)
    assert verdict.allowed is expected_allowed(sent_at, NOW, policy)
    assert (verdict.reason is None) is verdict.allowed
    assert (verdict.next_allowed_at is None) is verdict.allowed
    shuffled = list(sent_at)
    seed.shuffle(shuffled)
    assert check_frequency(shuffled, NOW, policy) == verdict


@settings(max_examples=400)
@given(sent_at=st.lists(offsets, max_size=8), policy=policies)
def test_next_allowed_at_is_the_moment_it_becomes_allowed(
    sent_at: list[datetime], policy: FrequencyPolicy
):
    verdict = check_frequency(sent_at, NOW, policy)
    if verdict.next_allowed_at is None:
        return
    assert verdict.next_allowed_at > NOW
    assert check_frequency(sent_at, verdict.next_allowed_at, policy).allowed
    assert not check_frequency(sent_at, verdict.next_allowed_at - US, policy).allowed
