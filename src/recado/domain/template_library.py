"""Ready-made message templates for common use cases, in English, Portuguese and Spanish.

The texts live in `recado/data/template_library.toml`, one group per message with a body per
language; here they are read once and flattened into one `LibraryTemplate` per language.

Every body starts with `{{ brand }}`, which Recado fills from the workspace settings (the
brand name, else the workspace's name). Marketing bodies carry no opt-out instruction: the
workspace's footer is appended in the contact's language when the message is sent, so it is
never doubled and follows the workspace's own wording.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Final, Literal

MessageCategory = Literal["marketing", "transactional"]

LIBRARY_FILE: Final = "data/template_library.toml"
LANGUAGES: Final = ("en", "pt-BR", "es")
BRAND_VARIABLE: Final = "brand"
CATEGORIES: Final = ("marketing", "transactional")

_BRAND = re.compile(r"\{\{-?\s*brand\s*-?\}\}")
_TEMPLATE_MARKS = ("{{", "}}", "{%", "%}", "{#", "#}")


@dataclass(frozen=True)
class LibraryTemplate:
    """One ready-made message in one language.

    `variables` maps each variable the body uses to what it is; `sample` gives typical values
    of the ones without a fallback, for previews. `max_parts` is what the text costs at most,
    footer included, with the sample values and a brand of up to 15 characters.
    """

    id: str
    use_case: str
    category: MessageCategory
    language: str
    name: str
    description: str
    body: str
    variables: Mapping[str, str]
    sample: Mapping[str, Any]
    max_parts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "use_case": self.use_case,
            "category": self.category,
            "language": self.language,
            "name": self.name,
            "description": self.description,
            "body": self.body,
            "variables": dict(self.variables),
            "sample": dict(self.sample),
            "max_parts": self.max_parts,
        }


@functools.cache
def library_templates() -> tuple[LibraryTemplate, ...]:
    """Every library template, in the order of the data file, languages in `LANGUAGES` order."""
    raw = resources.files("recado").joinpath(LIBRARY_FILE).read_text(encoding="utf-8")
    return _flatten(tomllib.loads(raw))


def find_library_templates(
    *, use_case: str | None = None, language: str | None = None
) -> list[LibraryTemplate]:
    """The library templates for `use_case` (abandoned_cart has three steps) in `language`.

    A language matches exactly (case aside) or by its base: "pt" and "pt-PT" find pt-BR.
    """
    wanted = _language_of(language) if language else None
    if language and wanted is None:
        return []
    return [
        entry
        for entry in library_templates()
        if (use_case is None or entry.use_case == use_case.strip().lower())
        and (wanted is None or entry.language == wanted)
    ]


def library_template(template_id: str, language: str = "en") -> LibraryTemplate | None:
    """One library template by id in `language` (matched as in `find_library_templates`)."""
    wanted = _language_of(language)
    for entry in library_templates():
        if entry.id == template_id and entry.language == wanted:
            return entry
    return None


def library_use_cases() -> tuple[str, ...]:
    return tuple(dict.fromkeys(entry.use_case for entry in library_templates()))


def bind_brand(source: str, brand: str) -> str:
    """`source` with every `{{ brand }}` replaced by the brand itself.

    The brand is the same for every recipient; written into the text, it is what lint's
    brand check and the part count see. A brand that looks like template code stays literal.
    """
    if any(mark in brand for mark in _TEMPLATE_MARKS):
        literal = "{% raw %}" + brand.replace("{% endraw %}", "") + "{% endraw %}"
    else:
        literal = brand
    return _BRAND.sub(lambda _: literal, source)


def _language_of(language: str) -> str | None:
    """The library language for `language`, or None when the library does not have it."""
    normalized = language.strip().replace("_", "-").lower()
    for known in LANGUAGES:
        if known.lower() == normalized:
            return known
    base = normalized.partition("-")[0]
    for known in LANGUAGES:
        if known.lower().partition("-")[0] == base:
            return known
    return None


def _flatten(data: Mapping[str, Any]) -> tuple[LibraryTemplate, ...]:
    entries: list[LibraryTemplate] = []
    seen: set[str] = set()
    for group in data["templates"]:
        template_id = str(group["id"])
        if template_id in seen:
            raise ValueError(f"template library: '{template_id}' appears twice")
        seen.add(template_id)
        category = group["category"]
        if category not in CATEGORIES:
            raise ValueError(f"template library: '{template_id}' has category {category!r}")
        languages: Mapping[str, Any] = group["languages"]
        if set(languages) != set(LANGUAGES):
            raise ValueError(f"template library: '{template_id}' needs {', '.join(LANGUAGES)}")
        variables = MappingProxyType(dict(group["variables"]))
        for language in LANGUAGES:
            text = languages[language]
            entries.append(
                LibraryTemplate(
                    id=template_id,
                    use_case=str(group["use_case"]),
                    category=category,
                    language=language,
                    name=str(text["name"]),
                    description=str(group["description"]),
                    body=str(text["body"]),
                    variables=variables,
                    sample=MappingProxyType({**group.get("sample", {}), **text.get("sample", {})}),
                    max_parts=int(group["max_parts"]),
                )
            )
    return tuple(entries)
