"""Compliance keywords: opt-out (STOP), opt-in (START), help (HELP) and confirmation (YES).

A reply is a keyword when, case, accents, punctuation, emoji and polite words aside, it is
exactly one keyword: "Stop please!", "  stop. ", "¡BAJA!", "Pare por favor" and "opt-out"
are; "Don't stop" and "stop by our store" are not, and go to `recado.domain.optout_intent`.
Repeated letters are kept ("STOPPP" is no keyword here) so that a keyword is never a guess.

The standard words are data (`STANDARD_KEYWORDS`) and cannot be removed. A workspace adds
words per class and language with `KeywordRules.standard().with_extra(...)`, but cannot give
a standard word another class. YES is both an opt-in and a confirmation word: the match
carries both classes and the service decides whether it confirms a pending double opt-in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Final, Literal, get_args

KeywordClass = Literal["opt_out", "opt_in", "help", "confirm"]
KEYWORD_CLASSES: Final[tuple[KeywordClass, ...]] = get_args(KeywordClass)

# class -> language -> words. CANCELAR and INFO are in several languages on purpose: the match
# lists them all and the caller answers in the contact's language when it is among them.
STANDARD_KEYWORDS: Final[Mapping[KeywordClass, Mapping[str, tuple[str, ...]]]] = MappingProxyType(
    {
        "opt_out": MappingProxyType(
            {
                "en": (
                    *("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"),
                    *("REVOKE", "OPTOUT", "OPT OUT"),
                ),
                "pt": ("SAIR", "PARAR", "PARE", "CANCELAR", "DESCADASTRAR", "REMOVER"),
                "es": ("BAJA", "ALTO", "DETENER", "CANCELAR"),
            }
        ),
        "opt_in": MappingProxyType(
            {"en": ("START", "UNSTOP", "YES", "SUBSCRIBE"), "pt": ("VOLTAR",), "es": ("ALTA",)}
        ),
        "help": MappingProxyType(
            {"en": ("HELP", "INFO"), "pt": ("AJUDA", "INFO"), "es": ("AYUDA", "INFO")}
        ),
        "confirm": MappingProxyType({"en": ("YES", "Y"), "pt": ("SIM", "S"), "es": ("SI",)}),
    }
)

# Words people add around a keyword out of courtesy; "stop please" is still STOP.
POLITE_PHRASES: Final = frozenset(
    tuple(phrase.split())
    for phrase in (
        *("please", "pls", "plz", "plse", "pleas", "plis", "kindly"),
        *("thanks", "thank you", "thank u", "thankyou", "thanks a lot", "many thanks"),
        *("thx", "thnx", "thanx", "tks", "ty", "tyvm"),
        *("por favor", "porfavor", "por fa", "porfa", "porfis", "porfi", "pf", "pfv", "pfvr"),
        *("favor", "obrigado", "obrigada", "muito obrigado", "muito obrigada", "obg", "obgd"),
        *("obgda", "brigado", "brigada", "grato", "grata", "valeu", "vlw"),
        *("gracias", "muchas gracias", "mil gracias", "grax", "x favor", "xfa", "xfavor"),
    )
)

MAX_KEYWORD_WORDS: Final = 4
# A keyword reply plus courtesy fits well within this; longer texts are never keywords.
_MAX_KEYWORD_TEXT: Final = 200
_WORD: Final = re.compile(r"[^\W_]+")
_LANGUAGE: Final = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")

Words = tuple[str, ...]


def fold(text: str) -> str:
    """`text` casefolded, in compatibility form, without accents: "¡BAJÁ!" -> "¡baja!"."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words(text: str) -> Words:
    """The words of `text`, folded, without punctuation, symbols or emoji."""
    return tuple(_WORD.findall(fold(text)))


def trim_phrases(found: Words, phrases: frozenset[Words]) -> Words:
    """`found` without any of `phrases` at its start or end ("please stop thanks" -> "stop")."""
    longest = _longest(phrases)
    start, end = 0, len(found)
    trimmed = True
    while trimmed and start < end:
        trimmed = False
        for size in range(min(longest, end - start), 0, -1):
            if found[start : start + size] in phrases:
                start += size
                trimmed = True
                break
            if found[end - size : end] in phrases:
                end -= size
                trimmed = True
                break
    return found[start:end]


@cache
def _longest(phrases: frozenset[Words]) -> int:
    return max((len(phrase) for phrase in phrases), default=0)


@dataclass(frozen=True)
class KeywordMatch:
    """A reply that is a keyword: its canonical spelling, its classes and its languages.

    `classes` has two members only for a word that is both, such as YES (opt_in and
    confirm). `languages` is in table order, standard languages first.
    """

    keyword: str
    classes: frozenset[KeywordClass]
    languages: tuple[str, ...]

    @property
    def is_opt_out(self) -> bool:
        return "opt_out" in self.classes

    @property
    def is_opt_in(self) -> bool:
        return "opt_in" in self.classes

    @property
    def is_help(self) -> bool:
        return "help" in self.classes

    @property
    def is_confirmation(self) -> bool:
        return "confirm" in self.classes

    def language_for(self, contact_language: str | None) -> str:
        """The language to answer in: the contact's when the keyword belongs to it (by base
        language, so pt-BR picks CANCELAR's pt), else the keyword's first language."""
        if contact_language:
            base = _base_language(contact_language)
            if any(_base_language(language) == base for language in self.languages):
                return contact_language
        return self.languages[0]


@dataclass(frozen=True)
class KeywordRules:
    """The standard keywords plus a workspace's extra (class, language, word) entries.

    Build it with `KeywordRules.standard().with_extra({...})`; an extra that gives a standard
    word, or another extra word, a second class raises ValueError.
    """

    extra: tuple[tuple[KeywordClass, str, str], ...] = ()
    _index: Mapping[Words, KeywordMatch] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        standard = _Index()
        for kind, by_language in STANDARD_KEYWORDS.items():
            for language, spellings in by_language.items():
                for word in spellings:
                    standard.add(kind, language, word)
        index = standard.copy()
        for kind, language, word in self.extra:
            key = _checked_key(kind, language, word)
            taken = index.classes.get(key, set())
            if taken and kind not in taken:
                owner = "standard" if key in standard.classes else "workspace"
                raise ValueError(
                    f"'{word}' is a {owner} {'/'.join(sorted(taken))} keyword; "
                    f"a workspace cannot also use it for {kind}."
                )
            index.add(kind, _clean_language(language), word)
        object.__setattr__(self, "_index", MappingProxyType(index.matches()))

    @classmethod
    def standard(cls) -> KeywordRules:
        """The rules every workspace starts from: only the standard keywords."""
        return STANDARD_RULES

    def with_extra(self, extra: Mapping[str, Mapping[str, Iterable[str]]]) -> KeywordRules:
        """These rules plus `extra`, a mapping class -> language -> words, such as
        `{"opt_out": {"pt": ["CHEGA"]}, "help": {"fr": ["AIDE"]}}`."""
        added: list[tuple[KeywordClass, str, str]] = []
        for kind, by_language in extra.items():
            checked = _keyword_class(kind)
            for language, spellings in by_language.items():
                if isinstance(spellings, str):
                    raise ValueError(f"Give the {kind} words for {language} as a list.")
                added.extend((checked, language, word) for word in spellings)
        entries = tuple(dict.fromkeys((*self.extra, *added)))
        return KeywordRules(extra=entries)

    def match(self, text: str) -> KeywordMatch | None:
        """The keyword that `text` is, or None when it is anything more than a keyword with
        punctuation, emoji and polite words around it."""
        if len(text) > _MAX_KEYWORD_TEXT:
            return None
        return self.match_words(words(text))

    def match_words(self, found: Sequence[str]) -> KeywordMatch | None:
        """Like `match`, for words already split and folded by `words`."""
        key = tuple(found)
        return self._index.get(key) or self._index.get(trim_phrases(key, POLITE_PHRASES))

    def lookup(self, key: Words) -> KeywordMatch | None:
        """The keyword spelled exactly by the folded words `key`, polite words included."""
        return self._index.get(key)

    def table(self) -> Mapping[KeywordClass, Mapping[str, tuple[str, ...]]]:
        """Every keyword by class and language, standard and extra, for display."""
        merged: dict[KeywordClass, dict[str, list[str]]] = {}
        for kind, by_language in STANDARD_KEYWORDS.items():
            for language, spellings in by_language.items():
                merged.setdefault(kind, {}).setdefault(language, []).extend(spellings)
        for kind, language, word in self.extra:
            spelled = merged.setdefault(kind, {}).setdefault(_clean_language(language), [])
            if _canonical(word) not in spelled:
                spelled.append(_canonical(word))
        return MappingProxyType(
            {
                kind: MappingProxyType({lang: tuple(ws) for lang, ws in by_lang.items()})
                for kind, by_lang in merged.items()
            }
        )


def match_keyword(text: str, rules: KeywordRules | None = None) -> KeywordMatch | None:
    """The keyword that `text` is under `rules` (the standard ones by default), or None."""
    return (rules or STANDARD_RULES).match(text)


class _Index:
    """Keyword entries being gathered: folded words -> canonical spelling, classes, languages."""

    def __init__(self) -> None:
        self.spelling: dict[Words, str] = {}
        self.classes: dict[Words, set[KeywordClass]] = {}
        self.languages: dict[Words, list[str]] = {}

    def add(self, kind: KeywordClass, language: str, word: str) -> None:
        key = words(word)
        self.spelling.setdefault(key, _canonical(word))
        self.classes.setdefault(key, set()).add(kind)
        known = self.languages.setdefault(key, [])
        if language not in known:
            known.append(language)

    def copy(self) -> _Index:
        other = _Index()
        other.spelling = dict(self.spelling)
        other.classes = {key: set(kinds) for key, kinds in self.classes.items()}
        other.languages = {key: list(languages) for key, languages in self.languages.items()}
        return other

    def matches(self) -> dict[Words, KeywordMatch]:
        return {
            key: KeywordMatch(spelling, frozenset(self.classes[key]), tuple(self.languages[key]))
            for key, spelling in self.spelling.items()
        }


def _keyword_class(kind: str) -> KeywordClass:
    for known in KEYWORD_CLASSES:
        if kind == known:
            return known
    raise ValueError(
        f"'{kind}' is not a keyword class; the classes are {', '.join(KEYWORD_CLASSES)}."
    )


def _checked_key(kind: str, language: str, word: str) -> Words:
    _keyword_class(kind)
    if not _LANGUAGE.match(language.strip().replace("_", "-").lower()):
        raise ValueError(f"'{language}' is not a language code: use a code such as en, pt or es.")
    key = words(word)
    if not key:
        raise ValueError(f"The keyword '{word}' has no letters or digits.")
    if len(key) > MAX_KEYWORD_WORDS:
        raise ValueError(f"The keyword '{word}' is longer than {MAX_KEYWORD_WORDS} words.")
    return key


def _canonical(word: str) -> str:
    return " ".join(word.split()).upper()


def _clean_language(language: str) -> str:
    base, _, region = language.strip().replace("_", "-").partition("-")
    return f"{base.lower()}-{region.upper()}" if region else base.lower()


def _base_language(language: str) -> str:
    return language.strip().replace("_", "-").partition("-")[0].lower()


STANDARD_RULES: Final = KeywordRules()
