"""Quiet hours: the local times at which a marketing text may reach its recipient.

A rule is a `Window` of local wall-clock hours (start inclusive, end exclusive) plus the
weekdays on which no marketing may arrive at all. Rules are data, keyed by country
("BR") or by ISO 3166-2 subdivision ("US-FL"), in a `QuietHoursPolicy`; a workspace
overrides them with `QuietHoursOverrides`.

Two kinds of doubt are resolved towards the recipient:
- time zone: when the number may ring in several zones, a moment is allowed only if it is
  inside the window in every one of them;
- subdivision: when a country has regional rules and the recipient's region is unknown,
  the window is the intersection of the country's rule and all its regional rules.

Only marketing is subject to quiet hours. These functions do not look at a message's
category: the caller asks them for marketing messages and sends transactional ones at once.
A marketing message outside the window is deferred to `next_allowed_moment`, never dropped.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from calendar import SUNDAY, day_name
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import NumberParseException, geocoder
from phonenumbers import timezone as phone_timezone

from recado.domain.phone import valid_timezone
from recado.errors import InvalidPhoneNumber, RecadoError

#: How far ahead `next_allowed_moment` looks: a whole week, plus a day for zone offsets.
SEARCH_HORIZON = timedelta(days=8)

_MIDNIGHT = time(0)
_ALL_WEEKDAYS = frozenset(range(7))
_RULE_KEY = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


class NoAllowedMoment(RecadoError):
    """No moment within the search horizon is allowed in all of the recipient's time zones."""

    code = "no_allowed_send_time"
    status = 422


@dataclass(frozen=True)
class Window:
    """Local hours at which marketing may arrive: `start` <= time < `end`, except closed days.

    An `end` of 00:00 means midnight at the end of the day, so 00:00–00:00 is all day.
    `closed_weekdays` uses Python's numbering: Monday is 0, Sunday is 6.
    """

    start: time
    end: time
    closed_weekdays: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet-hours times are local wall-clock times, without a zone")
        if not self.closed_weekdays <= _ALL_WEEKDAYS:
            raise ValueError("closed_weekdays are numbers from 0 (Monday) to 6 (Sunday)")
        if self.end != _MIDNIGHT and self.end <= self.start and not self.is_never:
            raise ValueError(
                f"a window must start before it ends: {_hhmm(self.start)}–{_hhmm(self.end)}"
            )

    @classmethod
    def between(cls, start: str, end: str, *, closed_weekdays: Iterable[int] = ()) -> Window:
        """A window from "HH:MM" texts; "24:00" is accepted as the end of the day."""
        return cls(_parse_hhmm(start), _parse_hhmm(end), frozenset(closed_weekdays))

    @property
    def is_never(self) -> bool:
        """True when every weekday is closed: no moment is allowed."""
        return self.closed_weekdays == _ALL_WEEKDAYS

    def allows(self, local: datetime) -> bool:
        """Whether the wall-clock reading `local` (in the recipient's zone) is inside."""
        if local.weekday() in self.closed_weekdays:
            return False
        clock = local.time()
        return self.start <= clock and (self.end == _MIDNIGHT or clock < self.end)

    def intersect(self, other: Window) -> Window:
        """The moments both windows allow (the stricter reading of two rules)."""
        closed = self.closed_weekdays | other.closed_weekdays
        start = max(self.start, other.start)
        ends = [e for e in (self.end, other.end) if e != _MIDNIGHT]
        end = min(ends) if ends else _MIDNIGHT
        if end != _MIDNIGHT and end <= start:
            return NEVER
        return Window(start, end, closed)

    def closing(self, weekday: int) -> Window:
        """This window with `weekday` closed too."""
        return Window(self.start, self.end, self.closed_weekdays | {weekday})

    def opening(self, weekday: int) -> Window:
        """This window with `weekday` open again."""
        return Window(self.start, self.end, self.closed_weekdays - {weekday})

    def hours_text(self) -> str:
        """The hours as people read them, e.g. 08:00–21:00 (the end of the day is 24:00)."""
        if self.is_never:
            return "never"
        return f"{_hhmm(self.start)}–{'24:00' if self.end == _MIDNIGHT else _hhmm(self.end)}"

    def closed_text(self) -> str:
        """The closed days as people read them, e.g. "not on Sundays"; empty if none."""
        days = [f"{day_name[d]}s" for d in sorted(self.closed_weekdays)]
        if not days or self.is_never:
            return ""
        listed = days[0] if len(days) == 1 else f"{', '.join(days[:-1])} or {days[-1]}"
        return f"not on {listed}"


# A window nothing passes: what two rules with no common hours leave.
NEVER = Window(_MIDNIGHT, _MIDNIGHT, _ALL_WEEKDAYS)

# The rules Recado ships. Sources:
# - default: TCPA, 47 CFR 64.1200(c)(1): not before 8 a.m. or after 9 p.m. local time.
# - US-FL: Fla. Stat. 501.616(6)(a) as amended by CS/SB 1120 (2021): 8 a.m. to 8 p.m.
# - US-OK: Oklahoma Telephone Solicitation Act of 2022 (HB 3168): 8 a.m. to 8 p.m.
# - US-MD: Maryland Stop the Spam Calls Act of 2023 (SB 90, in force 2024-01-01): 8 to 8.
# - BR: 09:00–22:00 and no marketing on Sundays, as the product issue specifies (carrier
#   guidance for short codes is stricter in places; a workspace can tighten it).
STANDARD_DEFAULT = Window(time(8), time(21))
STANDARD_RULES: Mapping[str, Window] = MappingProxyType(
    {
        "US-FL": Window(time(8), time(20)),
        "US-OK": Window(time(8), time(20)),
        "US-MD": Window(time(8), time(20)),
        "BR": Window(time(9), time(22), frozenset({SUNDAY})),
    }
)


@dataclass(frozen=True)
class QuietHoursOverrides:
    """A workspace's changes to the standard policy.

    `rules` maps a country or subdivision code to its window; None removes that key's
    rule so the default applies there. `brazil_sunday_rule` turns the ban on Sunday
    marketing in Brazil on or off (None keeps the policy's choice).
    """

    default: Window | None = None
    rules: Mapping[str, Window | None] = field(default_factory=dict)
    brazil_sunday_rule: bool | None = None


@dataclass(frozen=True)
class QuietHoursPolicy:
    """The default window, and windows per country ("BR") or subdivision ("US-FL")."""

    default: Window
    rules: Mapping[str, Window] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        rules = {_rule_key(key): window for key, window in self.rules.items()}
        object.__setattr__(self, "rules", MappingProxyType(rules))

    @classmethod
    def standard(cls) -> QuietHoursPolicy:
        """The rules Recado ships with (see STANDARD_RULES for their sources)."""
        return cls(STANDARD_DEFAULT, STANDARD_RULES)

    def with_overrides(self, overrides: QuietHoursOverrides) -> QuietHoursPolicy:
        """This policy with a workspace's overrides applied; keys not overridden are kept."""
        default = self.default if overrides.default is None else overrides.default
        rules = dict(self.rules)
        for raw_key, window in overrides.rules.items():
            key = _rule_key(raw_key)
            if window is None:
                rules.pop(key, None)
            else:
                rules[key] = window
        if overrides.brazil_sunday_rule is not None:
            turn = Window.closing if overrides.brazil_sunday_rule else Window.opening
            rules.setdefault("BR", default)
            for key in [k for k in rules if k == "BR" or k.startswith("BR-")]:
                rules[key] = turn(rules[key], SUNDAY)
        return QuietHoursPolicy(default, rules)


@dataclass(frozen=True)
class RecipientClock:
    """Where a recipient's clock may be: candidate IANA zones, country and subdivision.

    `subdivision` is an ISO 3166-2 code such as "US-FL", or None when unknown.
    """

    zones: tuple[str, ...]
    country: str
    subdivision: str | None


def recipient_clock(
    e164: str, explicit_timezone: str | None = None, explicit_region: str | None = None
) -> RecipientClock:
    """The recipient's clock from the contact's explicit attributes, else from the number.

    `explicit_region` may be "US-FL", "FL" or "Florida" (read within the number's
    country). An explicit time zone that is not a known IANA name is ignored and the
    number's zones are used, so bad data can only make the rule stricter, never skip it.
    """
    number, country = _parse(e164)
    if explicit_timezone and valid_timezone(explicit_timezone):
        zones: tuple[str, ...] = (explicit_timezone,)
    else:
        zones = _number_zones(number)
    if explicit_region and explicit_region.strip():
        subdivision = _subdivision_from_text(country, explicit_region)
    elif country in _SUBDIVISIONS:  # the geocoder is only worth asking where names are known
        subdivision = _subdivision_from_description(
            country, geocoder.description_for_number(number, "en")
        )
    else:
        subdivision = None
    return RecipientClock(zones=zones, country=country, subdivision=subdivision)


def window_for(clock: RecipientClock, policy: QuietHoursPolicy) -> Window:
    """The window that applies to this recipient: the most specific rule that is known.

    A known subdivision's rule wins over its country's, and a country's over the default.
    With an unknown subdivision, every regional rule of the country might apply, so the
    window is their intersection with the country's rule.
    """
    if clock.subdivision and clock.subdivision in policy.rules:
        return policy.rules[clock.subdivision]
    window = policy.rules.get(clock.country, policy.default)
    if clock.subdivision is None:
        prefix = f"{clock.country}-"
        for key, regional in policy.rules.items():
            if key.startswith(prefix):
                window = window.intersect(regional)
    return window


def describe_window(clock: RecipientClock, policy: QuietHoursPolicy) -> str:
    """Preview text such as "08:00–21:00 local time (America/New_York)"."""
    window = window_for(clock, policy)
    if window.is_never:
        return "never: no hours are open for marketing"
    if len(clock.zones) <= 3:
        where = ", ".join(clock.zones)
    else:
        where = f"all {len(clock.zones)} time zones the number may be in"
    closed = window.closed_text()
    return f"{window.hours_text()} local time ({where})" + (f", {closed}" if closed else "")


def next_allowed_moment(
    now_utc: datetime, clock: RecipientClock, policy: QuietHoursPolicy
) -> datetime:
    """The earliest instant >= `now_utc` at which a marketing text may reach the recipient.

    Returns `now_utc` itself when sending is allowed now; otherwise a UTC instant that is
    inside the window in every candidate zone. Raises NoAllowedMoment when no such
    instant exists within SEARCH_HORIZON (zones too far apart, or every day closed).
    """
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    window = window_for(clock, policy)
    zones = tuple(ZoneInfo(name) for name in clock.zones)
    if _allowed_everywhere(now_utc, zones, window):
        return now_utc
    start = now_utc.astimezone(UTC)
    limit = start + SEARCH_HORIZON
    if not window.is_never:
        # Between two consecutive change points nothing changes, so testing them is exact.
        for moment in _change_points(start, limit, clock.zones, window):
            if _allowed_everywhere(moment, zones, window):
                return moment
    raise NoAllowedMoment(
        f"No moment in the next {SEARCH_HORIZON.days} days is inside "
        f"{window.hours_text()} local time in every time zone this number may be in "
        f"({', '.join(clock.zones)}). Set the contact's time zone to send marketing to it."
    )


def _allowed_everywhere(moment: datetime, zones: tuple[ZoneInfo, ...], window: Window) -> bool:
    return all(window.allows(moment.astimezone(zone)) for zone in zones)


def _change_points(
    start: datetime, limit: datetime, zone_names: tuple[str, ...], window: Window
) -> Iterator[datetime]:
    """Instants in (start, limit], ascending, where any zone's allowed state may change."""
    day = start.date()
    while datetime.combine(day, _MIDNIGHT, UTC) <= limit:
        points = _day_points(zone_names, window, day)
        for point in points[bisect_left(points, start) :]:
            if start < point <= limit:
                yield point
        day += timedelta(days=1)


@lru_cache(maxsize=4096)
def _day_points(zone_names: tuple[str, ...], window: Window, utc_day: date) -> tuple[datetime, ...]:
    return tuple(sorted({p for name in zone_names for p in _zone_points(name, window, utc_day)}))


@lru_cache(maxsize=8192)
def _zone_points(zone_name: str, window: Window, utc_day: date) -> tuple[datetime, ...]:
    """Change points of one zone within one UTC day: window edges, midnights, DST jumps.

    Cached per day, so a campaign's recipients in the same zone share the work.
    """
    zone = ZoneInfo(zone_name)
    day_start = datetime.combine(utc_day, _MIDNIGHT, UTC)
    day_end = day_start + timedelta(days=1)
    first = day_start.astimezone(zone).date() - timedelta(days=1)
    last = day_end.astimezone(zone).date() + timedelta(days=1)
    # Starting a step early catches a jump that falls exactly on the UTC midnight.
    points = set(_offset_changes(zone, day_start - timedelta(hours=3), day_end))
    local_day = first
    while local_day <= last:
        for clock in (_MIDNIGHT, window.start, window.end):
            for fold in (0, 1):  # an ambiguous wall time is crossed twice on a fall-back day
                wall = datetime.combine(local_day, clock, zone).replace(fold=fold)
                points.add(wall.astimezone(UTC))
        local_day += timedelta(days=1)
    return tuple(sorted(p for p in points if day_start <= p < day_end))


def _offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """The first instant of each new UTC offset between start and end (to the second).

    A spring-forward jump skips wall times, so it is a change point that no window edge
    names; offsets are sampled every three hours (no zone changes twice in that time).
    """
    step = timedelta(hours=3)
    before = start
    while before < end:
        after = min(before + step, end)
        if before.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
            low, high = int(before.timestamp()), int(after.timestamp())
            offset = before.astimezone(zone).utcoffset()
            while high - low > 1:
                mid = (low + high) // 2
                if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == offset:
                    low = mid
                else:
                    high = mid
            yield datetime.fromtimestamp(high, UTC)
        before = after


def _parse(e164: str) -> tuple[phonenumbers.PhoneNumber, str]:
    """The number and its country (ISO 3166-1 alpha-2)."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        raise InvalidPhoneNumber(f"'{e164}' is not a phone number in E.164 form.") from None
    # A number outside every known range still has a country: its calling code's main one.
    country = phonenumbers.region_code_for_number(number) or (
        phonenumbers.region_code_for_country_code(number.country_code or 0)
    )
    if country == "ZZ":
        raise InvalidPhoneNumber(f"'{e164}' has no known country, so its local time is unknown.")
    return number, country


def _number_zones(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    """Every zone the number may ring in, by its number range."""
    zones = [z for z in phone_timezone.time_zones_for_number(number) if valid_timezone(z)]
    if not zones:
        raise InvalidPhoneNumber(
            f"The local time of +{number.country_code} {number.national_number} cannot be "
            "worked out from the number; set the contact's time zone."
        )
    return tuple(sorted(zones))


def _rule_key(raw: str) -> str:
    key = raw.strip().upper()
    if not _RULE_KEY.match(key):
        raise ValueError(f"'{raw}' is not a country code (BR) or subdivision code (US-FL)")
    return key


def _subdivision_from_text(country: str, text: str) -> str | None:
    """An explicit region: "US-FL", or "FL" / "Florida" read within the number's country."""
    value = text.strip()
    if re.fullmatch(r"[A-Za-z]{2}-[A-Za-z0-9]{1,3}", value):
        return value.upper()
    if value.upper() == country:
        return None
    names = _SUBDIVISIONS.get(country)
    if names is None:  # no table for this country: trust a plain code as written
        return f"{country}-{value.upper()}" if re.fullmatch(r"[A-Za-z0-9]{1,3}", value) else None
    code = value.upper() if value.upper() in names.values() else names.get(_fold(value))
    return f"{country}-{code}" if code else None


def _subdivision_from_description(country: str, description: str) -> str | None:
    """The region in phonenumbers' geocoder text: "Florida", "Miami, FL", "Natal - RN"."""
    names = _SUBDIVISIONS.get(country)
    if not names or not description:
        return None
    code = names.get(_fold(description))
    if code is None:
        suffix = re.search(r"(?:,| -) ([A-Z]{2})$", description)
        code = suffix.group(1) if suffix and suffix.group(1) in names.values() else None
    return f"{country}-{code}" if code else None


def _fold(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(plain.casefold().split())


def _subdivision_table(text: str) -> dict[str, str]:
    pairs = (item.split("=") for item in text.split(";") if item.strip())
    return {_fold(name): code.strip() for code, name in pairs}


# Names as phonenumbers' geocoder writes them (English), including its variants.
_SUBDIVISIONS: Mapping[str, dict[str, str]] = {
    "US": _subdivision_table(
        "AL=Alabama; AK=Alaska; AZ=Arizona; AR=Arkansas; CA=California; CO=Colorado;"
        "CT=Connecticut; DE=Delaware; DC=District of Columbia; DC=Washington D.C.;"
        "FL=Florida; GA=Georgia; HI=Hawaii; ID=Idaho; IL=Illinois; IN=Indiana; IA=Iowa;"
        "KS=Kansas; KY=Kentucky; LA=Louisiana; ME=Maine; MD=Maryland; MA=Massachusetts;"
        "MI=Michigan; MN=Minnesota; MS=Mississippi; MO=Missouri; MT=Montana; NE=Nebraska;"
        "NV=Nevada; NH=New Hampshire; NJ=New Jersey; NM=New Mexico; NY=New York;"
        "NC=North Carolina; ND=North Dakota; OH=Ohio; OK=Oklahoma; OR=Oregon;"
        "PA=Pennsylvania; RI=Rhode Island; SC=South Carolina; SD=South Dakota; TN=Tennessee;"
        "TX=Texas; UT=Utah; VT=Vermont; VA=Virginia; WA=Washington; WA=Washington State;"
        "WV=West Virginia; WI=Wisconsin; WY=Wyoming"
    ),
    "CA": _subdivision_table(
        "AB=Alberta; BC=British Columbia; BC=British Colombia; MB=Manitoba;"
        "NB=New Brunswick; NL=Newfoundland and Labrador; NS=Nova Scotia; ON=Ontario;"
        "PE=Prince Edward Island; QC=Quebec; SK=Saskatchewan; NT=Northwest Territories;"
        "NU=Nunavut; YT=Yukon"
    ),
    "BR": _subdivision_table(
        "AC=Acre; AL=Alagoas; AP=Amapá; AM=Amazonas; BA=Bahia; CE=Ceará;"
        "DF=Distrito Federal; DF=Federal District; ES=Espírito Santo; GO=Goiás;"
        "MA=Maranhão; MT=Mato Grosso; MS=Mato Grosso do Sul; MG=Minas Gerais; PA=Pará;"
        "PB=Paraíba; PR=Paraná; PE=Pernambuco; PI=Piauí; RJ=Rio de Janeiro;"
        "RN=Rio Grande do Norte; RS=Rio Grande do Sul; RO=Rondônia; RR=Roraima;"
        "SC=Santa Catarina; SP=São Paulo; SE=Sergipe; TO=Tocantins"
    ),
}


def _parse_hhmm(text: str) -> time:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text)
    if not match:
        raise ValueError(f"'{text}' is not a time of day in HH:MM form")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if (hours, minutes) == (24, 0):
        return _MIDNIGHT
    if hours > 23 or minutes > 59:
        raise ValueError(f"'{text}' is not a time of day in HH:MM form")
    return time(hours, minutes)


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")
