"""Quiet hours: marketing texts reach people only inside their local window, never early."""

from __future__ import annotations

from calendar import SATURDAY, SUNDAY
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from recado.domain.quiet_hours import (
    SEARCH_HORIZON,
    NoAllowedMoment,
    QuietHoursOverrides,
    QuietHoursPolicy,
    RecipientClock,
    Window,
    describe_window,
    next_allowed_moment,
    recipient_clock,
    window_for,
)
from recado.errors import InvalidPhoneNumber

STANDARD = QuietHoursPolicy.standard()

NEW_YORK = "+12125551234"  # "New York, NY"
FLORIDA = "+13055551234"  # "Florida", Eastern time
PENSACOLA = "+18504321234"  # "Pensacola, FL", Central time
OKLAHOMA = "+14057234567"
MARYLAND = "+13012345678"
IDAHO = "+12085550100"  # area code 208 spans Mountain (Boise) and Pacific time
NON_GEOGRAPHIC_US = "+15005550100"  # no state, every NANP zone
SAO_PAULO = "+5511912345678"
AMAZONAS = "+5592912345678"  # Manaus, an hour behind São Paulo
RUSSIA_MOBILE = "+79161234567"  # a mobile range that may ring anywhere in Russia
AUSTRALIA_MOBILE = "+61412345678"  # a mobile range that may ring in any Australian zone


def local(zone: str, *fields: int) -> datetime:
    """A wall-clock time in `zone`, as a UTC instant."""
    return datetime(*fields, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def inside(window: Window, moment: datetime, zones: tuple[str, ...]) -> bool:
    """The test's own reading of "allowed": inside the window on every candidate wall clock."""
    for zone in zones:
        wall = moment.astimezone(ZoneInfo(zone))
        if wall.weekday() in window.closed_weekdays:
            return False
        if wall.time() < window.start or (window.end != time(0) and wall.time() >= window.end):
            return False
    return True


# (number, local "now", expected local result or None when sending is allowed at once)
# 2026-03-10 is a Tuesday; 2026-03-14 a Saturday; 2026-03-08 the US spring-forward day.
CASES = [
    pytest.param(
        NEW_YORK,
        ("America/New_York", 2026, 3, 10, 7, 59),
        ("America/New_York", 2026, 3, 10, 8, 0),
        id="new-york-a-minute-early-waits-for-08:00",
    ),
    pytest.param(NEW_YORK, ("America/New_York", 2026, 3, 10, 8, 0), None, id="new-york-at-08:00"),
    pytest.param(NEW_YORK, ("America/New_York", 2026, 3, 10, 20, 59), None, id="new-york-at-20:59"),
    pytest.param(
        NEW_YORK,
        ("America/New_York", 2026, 3, 10, 21, 0),
        ("America/New_York", 2026, 3, 11, 8, 0),
        id="new-york-at-21:00-waits-for-tomorrow",
    ),
    pytest.param(
        FLORIDA,
        ("America/New_York", 2026, 3, 10, 20, 30),
        ("America/New_York", 2026, 3, 11, 8, 0),
        id="florida-closes-at-20:00",
    ),
    pytest.param(
        PENSACOLA,
        ("America/Chicago", 2026, 3, 10, 19, 59),
        None,
        id="florida-panhandle-on-central-time",
    ),
    pytest.param(
        OKLAHOMA,
        ("America/Chicago", 2026, 3, 10, 20, 0),
        ("America/Chicago", 2026, 3, 11, 8, 0),
        id="oklahoma-closes-at-20:00",
    ),
    pytest.param(
        MARYLAND,
        ("America/New_York", 2026, 3, 10, 20, 0),
        ("America/New_York", 2026, 3, 11, 8, 0),
        id="maryland-closes-at-20:00",
    ),
    pytest.param(
        SAO_PAULO,
        ("America/Sao_Paulo", 2026, 3, 14, 22, 30),
        ("America/Sao_Paulo", 2026, 3, 16, 9, 0),
        id="brazil-saturday-night-waits-past-sunday",
    ),
    pytest.param(
        SAO_PAULO,
        ("America/Sao_Paulo", 2026, 3, 15, 12, 0),
        ("America/Sao_Paulo", 2026, 3, 16, 9, 0),
        id="brazil-sunday-noon-waits-for-monday",
    ),
    pytest.param(
        SAO_PAULO,
        ("America/Sao_Paulo", 2026, 3, 14, 21, 59),
        None,
        id="brazil-saturday-21:59",
    ),
    pytest.param(
        SAO_PAULO,
        ("America/Sao_Paulo", 2026, 3, 16, 9, 30),
        None,
        id="sao-paulo-at-09:30",
    ),
    pytest.param(
        AMAZONAS,
        ("America/Sao_Paulo", 2026, 3, 16, 9, 30),  # 08:30 in Manaus
        ("America/Manaus", 2026, 3, 16, 9, 0),
        id="amazonas-is-an-hour-behind-sao-paulo",
    ),
    pytest.param(
        IDAHO,
        ("America/Boise", 2026, 3, 10, 8, 30),  # 07:30 on Pacific time
        ("America/Los_Angeles", 2026, 3, 10, 8, 0),
        id="area-code-spanning-zones-waits-for-the-later-morning",
    ),
    pytest.param(
        IDAHO,
        ("America/Los_Angeles", 2026, 3, 10, 20, 0),  # 21:00 on Mountain time
        ("America/Los_Angeles", 2026, 3, 11, 8, 0),
        id="area-code-spanning-zones-stops-at-the-earlier-evening",
    ),
    pytest.param(
        NEW_YORK,
        ("America/New_York", 2026, 3, 8, 1, 30),  # EST; clocks jump to EDT at 02:00
        ("America/New_York", 2026, 3, 8, 8, 0),  # EDT: 12:00 UTC, not 13:00
        id="new-york-spring-forward-day",
    ),
    pytest.param(
        NEW_YORK,
        ("America/New_York", 2026, 11, 1, 1, 30),  # the first 01:30, before falling back
        ("America/New_York", 2026, 11, 1, 8, 0),
        id="new-york-fall-back-day",
    ),
]


@pytest.mark.parametrize(("number", "now_local", "expected_local"), CASES)
def test_marketing_waits_for_the_recipients_local_window(
    number: str,
    now_local: tuple[str, int, int, int, int, int],
    expected_local: tuple[str, int, int, int, int, int] | None,
):
    clock = recipient_clock(number)
    now = local(*now_local)
    expected = now if expected_local is None else local(*expected_local)
    assert next_allowed_moment(now, clock, STANDARD) == expected


def test_allowed_now_returns_now_itself():
    now = local("America/New_York", 2026, 3, 10, 12, 0)
    assert next_allowed_moment(now, recipient_clock(NEW_YORK), STANDARD) is now


def test_the_result_is_utc_even_when_now_is_given_in_another_zone():
    now = datetime(2026, 3, 10, 22, 0, tzinfo=ZoneInfo("America/New_York"))
    result = next_allowed_moment(now, recipient_clock(NEW_YORK), STANDARD)
    assert result == local("America/New_York", 2026, 3, 11, 8, 0)
    assert result.tzinfo is UTC


def test_a_number_that_may_ring_anywhere_in_russia_waits_until_every_zone_is_open():
    clock = recipient_clock(RUSSIA_MOBILE)
    assert len(clock.zones) > 5 and "Europe/Moscow" in clock.zones
    result = next_allowed_moment(local("Europe/Moscow", 2026, 3, 10, 9, 0), clock, STANDARD)
    window = window_for(clock, STANDARD)
    assert inside(window, result, clock.zones)
    assert not inside(window, result - timedelta(microseconds=1), clock.zones)
    # A contact's own time zone narrows it to Moscow alone.
    moscow = recipient_clock(RUSSIA_MOBILE, explicit_timezone="Europe/Moscow")
    now = local("Europe/Moscow", 2026, 3, 10, 9, 0)
    assert next_allowed_moment(now, moscow, STANDARD) == now


def test_an_australian_mobile_is_checked_in_every_australian_zone():
    clock = recipient_clock(AUSTRALIA_MOBILE)
    assert {"Australia/Perth", "Australia/Sydney"} <= set(clock.zones)
    now = local("Australia/Sydney", 2026, 3, 10, 9, 0)  # 06:00 in Perth
    result = next_allowed_moment(now, clock, STANDARD)
    assert result >= local("Australia/Perth", 2026, 3, 10, 8, 0)
    assert inside(window_for(clock, STANDARD), result, clock.zones)


def test_zones_ten_hours_apart_share_only_the_overlap_of_their_windows():
    clock = RecipientClock(("Europe/Kaliningrad", "Asia/Kamchatka"), "RU", None)  # UTC+2, +12
    # 08:00 in Kaliningrad is 06:00 UTC; 21:00 in Kamchatka is 09:00 UTC.
    assert next_allowed_moment(datetime(2026, 3, 10, 5, tzinfo=UTC), clock, STANDARD) == (
        datetime(2026, 3, 10, 6, tzinfo=UTC)
    )
    assert next_allowed_moment(datetime(2026, 3, 10, 9, tzinfo=UTC), clock, STANDARD) == (
        datetime(2026, 3, 11, 6, tzinfo=UTC)
    )


def test_zones_that_never_share_an_open_hour_raise_a_clear_error():
    policy = STANDARD.with_overrides(QuietHoursOverrides(default=Window(time(8), time(20))))
    clock = RecipientClock(("America/Panama", "Asia/Bangkok"), "PA", None)  # 12 hours apart
    with pytest.raises(NoAllowedMoment) as error:
        next_allowed_moment(datetime(2026, 3, 10, tzinfo=UTC), clock, policy)
    assert "America/Panama, Asia/Bangkok" in error.value.message
    assert "Set the contact's time zone" in error.value.message


def test_a_policy_closed_every_day_raises_instead_of_looping():
    closed = Window(time(8), time(21), frozenset(range(7)))
    policy = STANDARD.with_overrides(QuietHoursOverrides(default=closed))
    with pytest.raises(NoAllowedMoment):
        next_allowed_moment(datetime(2026, 3, 10, tzinfo=UTC), recipient_clock(NEW_YORK), policy)


def test_a_window_that_starts_inside_the_spring_forward_gap_opens_when_the_clock_jumps():
    policy = QuietHoursPolicy(Window(time(2, 30), time(21)))
    now = local("America/New_York", 2026, 3, 8, 1, 59)  # 06:59 UTC; 02:00 EST becomes 03:00
    result = next_allowed_moment(now, recipient_clock(NEW_YORK), policy)
    assert result == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert result.astimezone(ZoneInfo("America/New_York")).time() == time(3, 0)


def test_on_the_fall_back_day_a_repeated_wall_time_is_open_again():
    # Rules speak of the wall clock: 01:00–01:30 happens twice and is open both times.
    policy = QuietHoursPolicy(Window(time(0), time(1, 30)))
    clock = recipient_clock(NEW_YORK)
    after_first_pass = datetime(2026, 11, 1, 5, 45, tzinfo=UTC)  # 01:45 EDT
    assert next_allowed_moment(after_first_pass, clock, policy) == datetime(
        2026,
        11,
        1,
        6,
        0,
        tzinfo=UTC,  # 01:00 EST
    )


def test_a_window_that_ends_at_midnight_includes_the_last_minute_of_the_day():
    policy = QuietHoursPolicy(Window.between("10:00", "24:00"))
    clock = recipient_clock(NEW_YORK)
    late = local("America/New_York", 2026, 3, 10, 23, 59, 59)
    assert next_allowed_moment(late, clock, policy) == late
    midnight = local("America/New_York", 2026, 3, 11, 0, 0)
    assert next_allowed_moment(midnight, clock, policy) == local(
        "America/New_York", 2026, 3, 11, 10, 0
    )


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_allowed_moment(datetime(2026, 3, 10, 12), recipient_clock(NEW_YORK), STANDARD)


# --- where the clock comes from -------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "zones", "subdivision"),
    [
        (NEW_YORK, ("America/New_York",), "US-NY"),
        (FLORIDA, ("America/New_York",), "US-FL"),
        (PENSACOLA, ("America/Chicago",), "US-FL"),
        (OKLAHOMA, ("America/Chicago",), "US-OK"),
        (IDAHO, ("America/Boise", "America/Los_Angeles"), "US-ID"),
        (NON_GEOGRAPHIC_US, None, None),
        (SAO_PAULO, ("America/Sao_Paulo",), "BR-SP"),
        ("+551132123456", ("America/Sao_Paulo",), "BR-SP"),  # "São Paulo - SP"
        (AMAZONAS, ("America/Manaus",), "BR-AM"),
        ("+14165550100", ("America/Toronto",), "CA-ON"),
        # A Spanish mobile may be in the Canaries, an hour behind; no subdivision table for Spain.
        ("+34612345678", ("Atlantic/Canary", "Europe/Madrid"), None),
    ],
)
def test_the_clock_is_derived_from_the_number(
    number: str, zones: tuple[str, ...] | None, subdivision: str | None
):
    clock = recipient_clock(number)
    if zones is not None:
        assert clock.zones == zones
    assert clock.subdivision == subdivision


def test_the_contacts_own_time_zone_wins_over_the_number():
    clock = recipient_clock(NEW_YORK, explicit_timezone="America/Los_Angeles")
    assert clock.zones == ("America/Los_Angeles",)
    now = local("America/Los_Angeles", 2026, 3, 10, 7, 0)
    assert next_allowed_moment(now, clock, STANDARD) == local(
        "America/Los_Angeles", 2026, 3, 10, 8, 0
    )


def test_an_unknown_time_zone_name_falls_back_to_the_number():
    assert recipient_clock(NEW_YORK, explicit_timezone="Mars/Olympus").zones == (
        "America/New_York",
    )


@pytest.mark.parametrize(
    ("region", "subdivision"),
    [("US-FL", "US-FL"), ("fl", "US-FL"), ("Florida", "US-FL"), ("US", None), ("ZZ", None)],
)
def test_the_contacts_own_region_wins_over_the_number(region: str, subdivision: str | None):
    assert recipient_clock(NEW_YORK, explicit_region=region).subdivision == subdivision


def test_a_new_yorker_who_lives_in_florida_gets_floridas_hours():
    clock = recipient_clock(NEW_YORK, explicit_region="Florida")
    now = local("America/New_York", 2026, 3, 10, 20, 30)
    assert next_allowed_moment(now, clock, STANDARD) == local("America/New_York", 2026, 3, 11, 8)


def test_an_unknown_us_state_gets_the_strictest_reading_of_every_state_rule():
    clock = recipient_clock(NON_GEOGRAPHIC_US)
    assert window_for(clock, STANDARD) == Window(time(8), time(20))


def test_a_number_that_is_not_e164_is_refused():
    with pytest.raises(InvalidPhoneNumber):
        recipient_clock("2125551234")


# --- policy and overrides -------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "text"),
    [
        (RecipientClock(("America/New_York",), "US", "US-NY"), "08:00–21:00"),
        (RecipientClock(("America/New_York",), "US", "US-FL"), "08:00–20:00"),
        (RecipientClock(("America/Chicago",), "US", "US-OK"), "08:00–20:00"),
        (RecipientClock(("America/New_York",), "US", "US-MD"), "08:00–20:00"),
        (RecipientClock(("America/Sao_Paulo",), "BR", "BR-SP"), "09:00–22:00"),
        (RecipientClock(("Europe/Madrid",), "ES", None), "08:00–21:00"),
    ],
)
def test_standard_rules(clock: RecipientClock, text: str):
    assert window_for(clock, STANDARD).hours_text() == text


def test_preview_text_names_the_zone_and_the_closed_days():
    assert describe_window(recipient_clock(NEW_YORK), STANDARD) == (
        "08:00–21:00 local time (America/New_York)"
    )
    assert describe_window(recipient_clock(SAO_PAULO), STANDARD) == (
        "09:00–22:00 local time (America/Sao_Paulo), not on Sundays"
    )
    assert "12 time zones" in describe_window(
        RecipientClock(tuple(f"Etc/GMT-{n}" for n in range(1, 13)), "RU", None), STANDARD
    )


def test_a_workspace_default_applies_where_no_rule_is_more_specific():
    policy = STANDARD.with_overrides(QuietHoursOverrides(default=Window.between("10:00", "19:00")))
    assert window_for(recipient_clock(NEW_YORK), policy).hours_text() == "10:00–19:00"
    assert window_for(recipient_clock(FLORIDA), policy).hours_text() == "08:00–20:00"


def test_a_workspace_can_set_and_remove_rules_by_country_or_region():
    policy = STANDARD.with_overrides(
        QuietHoursOverrides(rules={"us-fl": None, "es": Window.between("09:00", "21:00")})
    )
    assert window_for(recipient_clock(FLORIDA), policy).hours_text() == "08:00–21:00"
    assert window_for(recipient_clock("+34612345678"), policy).hours_text() == "09:00–21:00"
    assert STANDARD.rules["US-FL"] == Window(time(8), time(20))  # the standard is untouched


def test_brazils_sunday_rule_can_be_turned_off_and_on():
    off = STANDARD.with_overrides(QuietHoursOverrides(brazil_sunday_rule=False))
    clock = recipient_clock(SAO_PAULO)
    sunday_noon = local("America/Sao_Paulo", 2026, 3, 15, 12, 0)
    assert next_allowed_moment(sunday_noon, clock, off) == sunday_noon
    on_again = off.with_overrides(QuietHoursOverrides(brazil_sunday_rule=True))
    assert window_for(clock, on_again).closed_weekdays == {SUNDAY}


def test_the_sunday_rule_follows_a_workspaces_own_brazil_window():
    policy = STANDARD.with_overrides(
        QuietHoursOverrides(
            rules={"BR": Window.between("10:00", "18:00", closed_weekdays=[SATURDAY])},
            brazil_sunday_rule=True,
        )
    )
    assert window_for(recipient_clock(SAO_PAULO), policy) == Window(
        time(10), time(18), frozenset({SATURDAY, SUNDAY})
    )


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("21:00", "08:00", "must start before it ends"),
        ("8am", "21:00", "HH:MM"),
        ("08:00", "24:30", "HH:MM"),
    ],
)
def test_bad_windows_are_refused(start: str, end: str, message: str):
    with pytest.raises(ValueError, match=message):
        Window.between(start, end)


def test_bad_rule_keys_are_refused():
    with pytest.raises(ValueError, match="not a country code"):
        QuietHoursPolicy(STANDARD.default, {"Florida": Window(time(8), time(20))})


def test_windows_intersect_to_the_stricter_reading():
    florida = Window(time(8), time(20))
    texas_like = Window(time(9), time(21), frozenset({SUNDAY}))
    assert florida.intersect(texas_like) == Window(time(9), time(20), frozenset({SUNDAY}))
    assert Window(time(8), time(12)).intersect(Window(time(13), time(20))).is_never


# --- properties -----------------------------------------------------------------------

ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/Santiago",  # changes its clocks at midnight
    "America/Havana",  # also at midnight
    "America/St_Johns",  # UTC-3:30
    "Australia/Sydney",
    "Australia/Lord_Howe",  # a half-hour DST shift
    "Asia/Kathmandu",  # UTC+5:45
    "Pacific/Chatham",  # UTC+12:45 / +13:45
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Pago_Pago",  # UTC-11
    "Europe/London",
    "Asia/Beirut",
]
NUMBERS = [NEW_YORK, FLORIDA, IDAHO, SAO_PAULO, AMAZONAS, RUSSIA_MOBILE, AUSTRALIA_MOBILE]

clocks = st.one_of(
    st.sampled_from(NUMBERS).map(recipient_clock),
    st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True).map(
        lambda zones: RecipientClock(tuple(zones), "US", None)
    ),
)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(st.integers(0, 23 * 60))
    end = draw(st.integers(start + 15, 24 * 60))
    closed = draw(st.frozensets(st.integers(0, 6), max_size=3))
    as_time = lambda minutes: time(*divmod(minutes % (24 * 60), 60))  # noqa: E731
    return Window(as_time(start), as_time(end), closed)


policies = st.one_of(st.just(STANDARD), windows().map(QuietHoursPolicy))
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(
    clock=clocks,
    policy=policies,
    now=instants,
    probes=st.lists(st.floats(0, 1, exclude_max=True), min_size=50, max_size=50),
)
def test_the_next_allowed_moment_is_the_first_allowed_instant(
    clock: RecipientClock, policy: QuietHoursPolicy, now: datetime, probes: list[float]
):
    window = window_for(clock, policy)
    try:
        result = next_allowed_moment(now, clock, policy)
    except NoAllowedMoment:
        # Only when nothing in the horizon is open; probe it to make sure.
        probe = now
        while probe < now + SEARCH_HORIZON:
            assert not inside(window, probe, clock.zones)
            probe += timedelta(minutes=5)
        return
    assert result >= now
    assert inside(window, result, clock.zones)
    if inside(window, now, clock.zones):
        assert result == now
        return
    # Nothing between now and the result is allowed: no open moment was skipped.
    assert not inside(window, result - timedelta(microseconds=1), clock.zones)
    span = (result - now) // timedelta(microseconds=1)
    for fraction in probes:
        before = timedelta(microseconds=min(int(span * fraction), span - 1))
        assert not inside(window, now + before, clock.zones)


@settings(max_examples=100, deadline=None)
@given(clock=clocks, policy=policies, now=instants)
def test_a_deferred_moment_is_itself_allowed_and_stable(
    clock: RecipientClock, policy: QuietHoursPolicy, now: datetime
):
    try:
        result = next_allowed_moment(now, clock, policy)
    except NoAllowedMoment:
        assume(False)
        return
    # Asking again at the answer (the scheduler waking up) sends at once.
    assert next_allowed_moment(result, clock, policy) == result
    # Windows and transitions fall on whole minutes, so deferrals do too.
    if result != now:
        assert result.second == 0 and result.microsecond == 0


@settings(max_examples=150, deadline=None)
@given(
    clock=clocks, policy=policies, now=instants.map(lambda t: t.replace(second=0, microsecond=0))
)
def test_the_answer_matches_a_minute_by_minute_scan(
    clock: RecipientClock, policy: QuietHoursPolicy, now: datetime
):
    # An independent, slow oracle: every rule and every clock change falls on a whole minute.
    window = window_for(clock, policy)
    scan_limit = now + timedelta(days=2)
    first_open = now
    while first_open < scan_limit and not inside(window, first_open, clock.zones):
        first_open += timedelta(minutes=1)
    try:
        result = next_allowed_moment(now, clock, policy)
    except NoAllowedMoment:
        assert first_open >= scan_limit
        return
    if first_open < scan_limit:
        assert result == first_open
    else:
        assert result >= scan_limit
