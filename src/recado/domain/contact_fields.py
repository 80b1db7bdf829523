"""Rules for the fields of a contact, shared by the API, the CSV import and the UI."""

from __future__ import annotations

import re
from typing import Any

from recado.domain.phone import valid_timezone
from recado.errors import ValidationFailed

# Columns that are contact fields; any other CSV column or API key becomes a custom attribute.
STANDARD_FIELDS = (
    "phone",
    "first_name",
    "last_name",
    "email",
    "language",
    "timezone",
    "external_id",
    "tags",
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
_TAG = re.compile(r"^[\w][\w .:/-]{0,99}$", re.UNICODE)
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_TAGS = 50
MAX_ATTRIBUTES = 100


def clean_text(value: str | None, field: str, max_length: int = 200) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) > max_length:
        raise ValidationFailed(f"{field} is longer than {max_length} characters.", field=field)
    return text or None


def clean_email(value: str | None) -> str | None:
    text = clean_text(value, "email", 320)
    if text is not None and not _EMAIL.match(text):
        raise ValidationFailed(f"'{text}' is not an email address.", field="email")
    return text


def clean_language(value: str | None) -> str | None:
    """BCP 47 language such as en, pt-BR or es; the case of the region is normalized."""
    text = clean_text(value, "language", 16)
    if text is None:
        return None
    text = text.replace("_", "-")
    if not _LANGUAGE.match(text.lower()):
        raise ValidationFailed(
            f"'{text}' is not a language code: use a code such as en, pt-BR or es.",
            field="language",
        )
    base, _, region = text.partition("-")
    return f"{base.lower()}-{region.upper()}" if region else base.lower()


def clean_timezone(value: str | None) -> str | None:
    text = clean_text(value, "timezone", 64)
    if text is not None and not valid_timezone(text):
        raise ValidationFailed(
            f"'{text}' is not a time zone: use an IANA name such as America/Sao_Paulo.",
            field="timezone",
        )
    return text


def clean_tags(value: list[str] | str | None) -> list[str]:
    """Tags from a list, or from text separated by ';' or ',' (CSV files)."""
    if value is None:
        return []
    raw = re.split(r"[;,]", value) if isinstance(value, str) else value
    tags: list[str] = []
    for item in raw:
        tag = item.strip()
        if not tag:
            continue
        if not _TAG.match(tag):
            raise ValidationFailed(
                f"'{tag}' is not a valid tag: use letters, digits, spaces, '.', ':', '/' or '-'.",
                field="tags",
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(f"A contact can have at most {MAX_TAGS} tags.", field="tags")
    return tags


def clean_attributes(value: dict[str, Any] | None) -> dict[str, Any]:
    if not value:
        return {}
    if len(value) > MAX_ATTRIBUTES:
        raise ValidationFailed(
            f"A contact can have at most {MAX_ATTRIBUTES} custom attributes.", field="attributes"
        )
    for key in value:
        if not _ATTRIBUTE_KEY.match(key):
            raise ValidationFailed(
                f"'{key}' is not a valid attribute name: start with a letter or '_', "
                "then letters, digits or '_' (at most 64).",
                field="attributes",
            )
        if key in STANDARD_FIELDS:
            raise ValidationFailed(
                f"'{key}' is a standard contact field; set it directly, not as an attribute.",
                field="attributes",
            )
    return dict(value)
