"""A workspace's own settings, typed. Stored as JSON on the workspace row.

Each capability adds its settings here with a safe default, so an older row reads as the
defaults and no migration is needed for a new setting.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recado.domain.footer import DEFAULT_FOOTERS, FooterSettings


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


def read_settings(raw: dict[str, Any] | None) -> WorkspaceSettings:
    return WorkspaceSettings.model_validate(raw or {})
