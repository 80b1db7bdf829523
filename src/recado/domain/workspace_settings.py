"""A workspace's own settings, typed. Stored as JSON on the workspace row.

Each capability adds its settings here with a safe default, so an older row reads as the
defaults and no migration is needed for a new setting.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recado.domain.attribution import Windows
from recado.domain.footer import DEFAULT_FOOTERS, FooterSettings
from recado.domain.frequency_caps import FrequencyPolicy
from recado.domain.keywords import KeywordRules
from recado.domain.quiet_hours import QuietHoursOverrides, QuietHoursPolicy, Window


class WindowSetting(BaseModel):
    """Allowed local sending hours, e.g. {"start": "08:00", "end": "20:00"}."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(description="HH:MM local time, inclusive")
    end: str = Field(description="HH:MM local time, exclusive; 24:00 for midnight")
    closed_weekdays: list[int] = Field(
        default_factory=list, description="Days with no marketing at all: 0 Monday ... 6 Sunday"
    )

    def window(self) -> Window:
        return Window.between(self.start, self.end, closed_weekdays=self.closed_weekdays)


class QuietHoursSetting(BaseModel):
    """A workspace's changes to the standard quiet-hours rules (TCPA 08:00-21:00 by default,
    stricter US states, Brazil 09:00-22:00 and no Sunday marketing)."""

    model_config = ConfigDict(extra="forbid")

    default: WindowSetting | None = Field(
        default=None, description="The window where no specific rule applies"
    )
    rules: dict[str, WindowSetting | None] = Field(
        default_factory=dict,
        description='Per country or region ("BR", "US-FL"); null removes a standard rule',
    )
    brazil_sunday_rule: bool | None = Field(
        default=None, description="No marketing on Sundays in Brazil (on by default)"
    )

    def policy(self) -> QuietHoursPolicy:
        return QuietHoursPolicy.standard().with_overrides(
            QuietHoursOverrides(
                default=self.default.window() if self.default else None,
                rules={k: (v.window() if v else None) for k, v in self.rules.items()},
                brazil_sunday_rule=self.brazil_sunday_rule,
            )
        )


class FrequencySetting(BaseModel):
    """How many marketing texts one contact may get, and the smart-sending gap."""

    model_config = ConfigDict(extra="forbid")

    max_messages: int = Field(default=3, ge=1, le=1000)
    window_hours: float = Field(default=24, gt=0, le=24 * 31)
    min_gap_hours: float | None = Field(
        default=None, gt=0, le=24 * 31, description="Skip contacts texted in the last N hours"
    )

    def policy(self) -> FrequencyPolicy:
        return FrequencyPolicy(
            max_messages=self.max_messages,
            window=timedelta(hours=self.window_hours),
            min_gap=timedelta(hours=self.min_gap_hours) if self.min_gap_hours else None,
        )


class AttributionSetting(BaseModel):
    """How long after a campaign message an order is still credited to it (a coupon code of
    the campaign is credited however late)."""

    model_config = ConfigDict(extra="forbid")

    click_window_hours: float = Field(
        default=7 * 24, ge=0, le=24 * 90, description="After a click on the message's link"
    )
    delivery_window_hours: float = Field(
        default=24, ge=0, le=24 * 90, description="After the message was delivered"
    )

    def windows(self) -> Windows:
        return Windows(
            click=timedelta(hours=self.click_window_hours),
            delivery=timedelta(hours=self.delivery_window_hours),
        )


class WorkspaceSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    brand_name: str | None = Field(
        default=None, max_length=40, description="Starts every marketing message (lint checks it)"
    )
    short_domain: str | None = Field(
        default=None,
        description="Host of tracked short links, e.g. go.acme.com; Recado's own URL when unset",
    )
    smart_encoding: bool = Field(
        default=False, description="Replace curly quotes and the like to stay in GSM-7"
    )
    footer_texts: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_FOOTERS),
        description="Opt-out instruction per language, appended to marketing messages",
    )
    footer_fallback_language: str = "en"
    max_parts: int = Field(default=3, ge=1, le=10, description="Lint warns above this many parts")
    webhook_url: str | None = Field(
        default=None, description="Receives status callbacks of messages that name none"
    )
    # Signs every webhook Recado sends; set once when the workspace is created.
    webhook_secret: str | None = Field(default=None, repr=False)
    # Keys the hashes on the suppression list; set once when the workspace is created.
    suppression_key: str | None = Field(default=None, repr=False)

    # Compliance: what STOP, START and HELP answer, and when and how often marketing goes.
    program_name: str | None = Field(
        default=None,
        max_length=40,
        description="Names the program in STOP/HELP answers; the brand name when unset",
    )
    help_contact: str | None = Field(
        default=None,
        max_length=80,
        description="Where HELP points people, e.g. support@acme.com or +1 415 555 0100",
    )
    compliance_replies: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Own texts for opt_out, opt_in, help, confirm_request and confirmed "
        "answers, per language (en, pt, es...); {program}, {contact} and {list} are filled in",
    )

    quiet_hours: QuietHoursSetting = Field(default_factory=QuietHoursSetting)
    frequency: FrequencySetting = Field(default_factory=FrequencySetting)
    attribution: AttributionSetting = Field(default_factory=AttributionSetting)
    extra_keywords: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description="Keywords added to the standard ones, by class and language, e.g. "
        '{"opt_out": {"pt": ["CHEGA"]}}; the standard keywords cannot be removed',
    )

    @model_validator(mode="after")
    def _rules_build(self) -> WorkspaceSettings:
        # Built once here so a bad window or keyword is refused when it is set, not later.
        self.quiet_hours_policy()
        self.keyword_rules()
        return self

    def quiet_hours_policy(self) -> QuietHoursPolicy:
        return _quiet_hours_policy(self.quiet_hours.model_dump_json())

    def frequency_policy(self) -> FrequencyPolicy:
        return self.frequency.policy()

    def keyword_rules(self) -> KeywordRules:
        return _keyword_rules(json.dumps(self.extra_keywords, sort_keys=True))

    @field_validator("short_domain")
    @classmethod
    def _bare_host(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        host = value.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        if "/" in host or " " in host or "." not in host:
            raise ValueError("short_domain is a host name such as go.acme.com")
        return host

    def footer(self) -> FooterSettings:
        return FooterSettings(
            texts=self.footer_texts, fallback_language=self.footer_fallback_language
        )


@lru_cache(maxsize=256)
def _quiet_hours_policy(raw: str) -> QuietHoursPolicy:
    return QuietHoursSetting.model_validate_json(raw).policy()


@lru_cache(maxsize=256)
def _keyword_rules(raw: str) -> KeywordRules:
    extra = json.loads(raw)
    return KeywordRules.standard().with_extra(extra) if extra else KeywordRules.standard()


def read_settings(raw: dict[str, Any] | None) -> WorkspaceSettings:
    return WorkspaceSettings.model_validate(raw or {})
