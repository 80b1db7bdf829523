"""The opt-out instruction that marketing messages carry ("Reply STOP to opt out").

`with_footer` appends the instruction in the contact's language unless the text already has
one. Detection looks for an instruction, not a word: "Reply STOP", "Envie SAIR",
"BAJA para cancelar" count in any supported language, case and accents aside, while "don't
stop the deals" does not. When unsure it says no, since the cost of a doubled instruction
is a few characters and the cost of a missing one is a compliance breach.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from recado.errors import ValidationFailed

DEFAULT_FOOTERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "en": "Reply STOP to opt out",
        "pt-BR": "Responda SAIR para cancelar",
        "es": "Responde BAJA para cancelar",
    }
)
MAX_FOOTER_LENGTH: Final = 60

# Keywords that end a subscription in the languages Recado supports, accents removed.
# Common words among them (cancel, end, quit) only count before an explicit purpose
# ("CANCEL to opt out"): "send the end-of-season deals" is not an instruction.
REPLY_KEYWORDS: Final = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "optout",
        "sair",
        "cancelar",
        "parar",
        "baja",
        "descadastrar",
    }
)
OPT_OUT_KEYWORDS: Final = REPLY_KEYWORDS | {"cancel", "end", "quit"}

# Words that introduce the keyword: "Reply STOP", "Envie SAIR", "Responde BAJA".
_INSTRUCTION_VERBS: Final = frozenset(
    {
        *("reply", "text", "txt", "send", "respond", "sms"),
        *("responda", "responde", "responder", "envie", "enviar", "envia", "mande", "manda"),
        *("digite", "escreva", "escribe", "escriba", "contesta", "conteste"),
    }
)
# Words allowed between the verb and the keyword: "reply with the word STOP".
_FILLERS: Final = frozenset(
    {"with", "the", "word", "keyword", "us", "back", "com", "a", "o", "palavra", "con"}
    | {"el", "la", "palabra"}
)
_MAX_FILLERS: Final = 3
# What may follow "KEYWORD to" / "KEYWORD para": the purpose of the keyword.
_PURPOSE_WORDS: Final = frozenset({"to", "para"})
_PURPOSES: Final = (
    ("opt", "out"),
    ("optout",),
    ("unsubscribe",),
    ("end",),
    ("stop",),
    ("cancel",),
    ("quit",),
    ("cancelar",),
    ("sair",),
    ("salir",),
    ("parar",),
    ("descadastrar",),
    ("darte", "de", "baja"),
    ("darse", "de", "baja"),
    ("dar", "de", "baja"),
    ("no", "recibir"),
    ("nao", "receber"),
    ("dejar", "de", "recibir"),
    ("deixar", "de", "receber"),
)

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class FooterSettings:
    """A workspace's opt-out texts by language, and the language used when none matches.

    Each text must itself read as an opt-out instruction, so that a footer is never
    appended twice.
    """

    texts: Mapping[str, str] = field(default_factory=lambda: DEFAULT_FOOTERS)
    fallback_language: str = "en"
    _by_language: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_language: dict[str, str] = {}
        for language, text in self.texts.items():
            clean = text.strip()
            if not clean or len(clean) > MAX_FOOTER_LENGTH:
                raise ValidationFailed(
                    f"The opt-out text for {language} must have 1 to {MAX_FOOTER_LENGTH} "
                    "characters.",
                    field="footer",
                )
            if not has_opt_out_instruction(clean):
                raise ValidationFailed(
                    f"The opt-out text for {language} must tell people how to opt out, "
                    "such as 'Reply STOP to opt out'.",
                    field="footer",
                )
            by_language[_normalize_language(language)] = clean
        object.__setattr__(self, "_by_language", MappingProxyType(by_language))
        if _match(by_language, self.fallback_language) is None:
            raise ValidationFailed(
                f"There is no opt-out text for the fallback language {self.fallback_language}.",
                field="footer",
            )


def has_opt_out_instruction(text: str) -> bool:
    """Whether `text` tells the reader how to opt out, in any supported language."""
    words = _words(text)
    for index, word in enumerate(words):
        if word in _INSTRUCTION_VERBS:
            after = index + 1
            while after < len(words) and after - index <= _MAX_FILLERS and words[after] in _FILLERS:
                after += 1
            if after < len(words) and words[after] in REPLY_KEYWORDS:
                return True
        elif word in OPT_OUT_KEYWORDS and _states_purpose(words, index + 1):
            return True
    return False


def footer_text(language: str | None, settings: FooterSettings | None = None) -> str:
    """The opt-out text for `language`: exact match, else the same base language (pt-PT
    gets the pt-BR text), else the fallback language's."""
    texts = (settings or DEFAULT_SETTINGS)._by_language
    found = _match(texts, language) if language else None
    if found is None:
        found = _match(texts, (settings or DEFAULT_SETTINGS).fallback_language)
    assert found is not None  # FooterSettings checks that the fallback has a text
    return found


def with_footer(text: str, language: str | None, settings: FooterSettings | None = None) -> str:
    """`text` with the opt-out instruction on a new line, unless it already has one."""
    if has_opt_out_instruction(text):
        return text
    body = text.rstrip()
    footer = footer_text(language, settings)
    return f"{body}\n{footer}" if body else footer


def _words(text: str) -> list[str]:
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _WORD.findall(text.casefold())


def _states_purpose(words: list[str], start: int) -> bool:
    if start >= len(words) or words[start] not in _PURPOSE_WORDS:
        return False
    rest = words[start + 1 :]
    return any(tuple(rest[: len(purpose)]) == purpose for purpose in _PURPOSES)


def _normalize_language(language: str) -> str:
    return language.strip().replace("_", "-").lower()


def _match(texts: Mapping[str, str], language: str) -> str | None:
    wanted = _normalize_language(language)
    if wanted in texts:
        return texts[wanted]
    base = wanted.partition("-")[0]
    if base in texts:
        return texts[base]
    for key, text in texts.items():
        if key.partition("-")[0] == base:
            return text
    return None


DEFAULT_SETTINGS: Final = FooterSettings()
