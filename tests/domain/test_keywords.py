"""Compliance keywords: what a one-keyword reply is, and what a workspace may add."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recado.domain.keywords import (
    STANDARD_KEYWORDS,
    STANDARD_RULES,
    KeywordRules,
    match_keyword,
    words,
)


def test_stop_with_please_is_an_opt_out() -> None:
    match = match_keyword("Stop please!")
    assert match is not None
    assert match.keyword == "STOP"
    assert match.classes == {"opt_out"}
    assert match.is_opt_out


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("Stop please!", "STOP"),
        ("  stop. ", "STOP"),
        ("STOP 🙏", "STOP"),
        ("Pare por favor", "PARE"),
        ("¡BAJA!", "BAJA"),
        ("opt-out", "OPT OUT"),
        ("Opt Out", "OPT OUT"),
        ("OPTOUT", "OPTOUT"),
        ("descadastrar", "DESCADASTRAR"),
        ("Cancelar.", "CANCELAR"),
        ("unsubscribe", "UNSUBSCRIBE"),
        ("StopAll", "STOPALL"),
        ("revoke", "REVOKE"),
        ("Sair, obrigada", "SAIR"),
        ("please stop, thank you", "STOP"),
        ("Baja gracias", "BAJA"),
        ("alto x favor", "ALTO"),
        ("Detener", "DETENER"),
        ("REMOVER", "REMOVER"),
        ("ＳＴＯＰ", "STOP"),  # full-width letters from some handsets
        ("\n\tquit\n", "QUIT"),
    ],
)
def test_opt_out_keywords_match_whatever_surrounds_them(text: str, keyword: str) -> None:
    match = match_keyword(text)
    assert match is not None
    assert match.keyword == keyword
    assert match.classes == {"opt_out"}


@pytest.mark.parametrize(
    "text", ["Don't stop", "stop by our store", "non-stop deals", "the end", "stop now", ""]
)
def test_a_longer_text_is_not_a_keyword(text: str) -> None:
    assert match_keyword(text) is None


@pytest.mark.parametrize("text", ["STOPPP", "Stooop", "saiiir", "stpo"])
def test_repeated_letters_and_typos_are_not_keywords(text: str) -> None:
    # The intent detector reads these; a keyword is never a guess.
    assert match_keyword(text) is None


def test_polite_words_alone_are_not_keywords() -> None:
    assert match_keyword("thanks") is None
    assert match_keyword("por favor") is None


def test_every_standard_word_matches_its_class_and_language() -> None:
    for kind, by_language in STANDARD_KEYWORDS.items():
        for language, spellings in by_language.items():
            for word in spellings:
                match = match_keyword(word.lower())
                assert match is not None, word
                assert kind in match.classes
                assert language in match.languages


def test_cancelar_belongs_to_portuguese_and_spanish() -> None:
    match = match_keyword("cancelar")
    assert match is not None
    assert match.languages == ("pt", "es")
    assert match.language_for("pt-BR") == "pt-BR"
    assert match.language_for("es-MX") == "es-MX"
    assert match.language_for("en") == "pt"  # not one of its languages: the first one
    assert match.language_for(None) == "pt"


def test_yes_is_both_an_opt_in_and_a_confirmation() -> None:
    match = match_keyword("Yes please!")
    assert match is not None
    assert match.keyword == "YES"
    assert match.classes == {"opt_in", "confirm"}
    assert match.is_opt_in and match.is_confirmation and not match.is_opt_out


@pytest.mark.parametrize(
    ("text", "language"), [("Y", "en"), ("sim", "pt"), ("S", "pt"), ("Sí", "es"), ("SI", "es")]
)
def test_short_confirmations_only_confirm(text: str, language: str) -> None:
    match = match_keyword(text)
    assert match is not None
    assert match.classes == {"confirm"}
    assert match.languages == (language,)


@pytest.mark.parametrize(
    ("text", "keyword"),
    [("START", "START"), ("unstop", "UNSTOP"), ("Voltar", "VOLTAR"), ("alta", "ALTA")],
)
def test_opt_in_keywords(text: str, keyword: str) -> None:
    match = match_keyword(text)
    assert match is not None
    assert match.keyword == keyword
    assert match.classes == {"opt_in"}


def test_help_keywords_in_every_language() -> None:
    for text, language in [("HELP", "en"), ("ajuda", "pt"), ("Ayuda!", "es")]:
        match = match_keyword(text)
        assert match is not None
        assert match.classes == {"help"}
        assert match.languages == (language,)
    info = match_keyword("info?")
    assert info is not None
    assert info.languages == ("en", "pt", "es")


def test_workspace_adds_keywords_per_class_and_language() -> None:
    rules = KeywordRules.standard().with_extra(
        {"opt_out": {"pt-br": ["Chega", "NÃO QUERO"]}, "help": {"fr": ["aide"]}}
    )
    chega = rules.match("chega!!")
    assert chega is not None
    assert chega.keyword == "CHEGA"
    assert chega.classes == {"opt_out"}
    assert chega.languages == ("pt-BR",)
    nao_quero = rules.match("nao quero")
    assert nao_quero is not None and nao_quero.keyword == "NÃO QUERO"
    aide = rules.match("Aide")
    assert aide is not None and aide.classes == {"help"}
    assert rules.match("STOP") == STANDARD_RULES.match("STOP")
    assert match_keyword("chega") is None  # the standard rules are unchanged


def test_workspace_can_add_a_language_to_a_standard_word() -> None:
    rules = STANDARD_RULES.with_extra({"opt_out": {"fr": ["STOP"]}})
    match = rules.match("stop")
    assert match is not None
    assert match.languages == ("en", "fr")
    assert match.language_for("fr-CA") == "fr-CA"


def test_workspace_cannot_take_over_a_standard_word() -> None:
    with pytest.raises(ValueError, match="'Stop' is a standard opt_out keyword"):
        STANDARD_RULES.with_extra({"opt_in": {"en": ["Stop"]}})
    with pytest.raises(ValueError, match="standard confirm keyword"):
        STANDARD_RULES.with_extra({"opt_in": {"pt": ["sim"]}})
    with pytest.raises(ValueError, match="standard confirm/opt_in keyword"):
        STANDARD_RULES.with_extra({"help": {"en": ["yes!"]}})


def test_workspace_cannot_give_one_word_two_classes() -> None:
    with pytest.raises(ValueError, match="'ok' is a workspace confirm keyword"):
        STANDARD_RULES.with_extra({"confirm": {"pt": ["ok"]}, "help": {"pt": ["ok"]}})
    rules = STANDARD_RULES.with_extra({"confirm": {"pt": ["ok"]}})
    with pytest.raises(ValueError, match="cannot also use it for opt_out"):
        rules.with_extra({"opt_out": {"en": ["OK"]}})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"stop": {"en": ["HALT"]}}, "not a keyword class"),
        ({"opt_out": {"english": ["HALT"]}}, "not a language code"),
        ({"opt_out": {"en": ["!!!"]}}, "no letters or digits"),
        ({"opt_out": {"en": ["please do not ever text me"]}}, "longer than 4 words"),
        ({"opt_out": {"en": "HALT"}}, "as a list"),
    ],
)
def test_malformed_extras_are_refused(extra: dict[str, dict[str, list[str]]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        STANDARD_RULES.with_extra(extra)


def test_standard_words_cannot_be_removed() -> None:
    with pytest.raises(TypeError):
        STANDARD_KEYWORDS["opt_out"]["en"] = ()  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        STANDARD_RULES.extra = ()  # type: ignore[misc]
    assert STANDARD_RULES.with_extra({}).match("stop") is not None


def test_extras_accumulate_and_rules_compare_by_value() -> None:
    once = STANDARD_RULES.with_extra({"opt_out": {"es": ["BASTA"]}})
    twice = once.with_extra({"opt_in": {"es": ["VOLVER"]}})
    assert twice.match("basta") is not None and twice.match("volver") is not None
    assert once == STANDARD_RULES.with_extra({"opt_out": {"es": ["BASTA"]}})
    assert hash(once) == hash(STANDARD_RULES.with_extra({"opt_out": {"es": ["BASTA"]}}))


def test_table_lists_standard_and_extra_words() -> None:
    table = STANDARD_RULES.with_extra({"opt_out": {"es": ["basta"], "fr": ["arrêt"]}}).table()
    assert table["opt_out"]["es"] == ("BAJA", "ALTO", "DETENER", "CANCELAR", "BASTA")
    assert table["opt_out"]["fr"] == ("ARRÊT",)
    assert table["confirm"] == STANDARD_KEYWORDS["confirm"]


def test_an_overlong_text_is_never_a_keyword() -> None:
    assert match_keyword("stop" + " " * 300) is None


# Property: case, accents, punctuation, emoji and polite words around a standard keyword
# never change what it is.
_STANDARD_WORDS = sorted(
    {
        word
        for by_language in STANDARD_KEYWORDS.values()
        for ws in by_language.values()
        for word in ws
    }
)
_AROUND = st.text(alphabet=st.sampled_from(list(" \t\n.,;:!?¡¿-_'\"()*…🙏🛑😡👍✋🏽❤️")), max_size=6)
_POLITE = st.sampled_from(["", "please", "pls", "thank you", "por favor", "obrigado", "gracias"])
_ACCENTS = "\u0301\u0300\u0302\u0303\u0308\u0327"


@st.composite
def _disguised(draw: st.DrawFn, word: str) -> str:
    letters = []
    for char in word:
        if char == " ":
            letters.append(draw(st.sampled_from([" ", "-", "_", "  ", " - "])))
            continue
        letters.append(char.lower() if draw(st.booleans()) else char)
        if draw(st.integers(0, 3)) == 0:
            letters.append(draw(st.sampled_from(_ACCENTS)))
    text = "".join(letters)
    if draw(st.booleans()):
        text = unicodedata.normalize("NFC", text)
    before, after = draw(_POLITE), draw(_POLITE)
    return f"{draw(_AROUND)}{before} {draw(_AROUND)}{text}{draw(_AROUND)} {after}{draw(_AROUND)}"


@given(
    st.sampled_from(_STANDARD_WORDS).flatmap(
        lambda word: st.tuples(st.just(word), _disguised(word))
    )
)
def test_a_disguised_standard_keyword_classifies_the_same(case: tuple[str, str]) -> None:
    word, disguised = case
    assert STANDARD_RULES.match(disguised) == STANDARD_RULES.match(word)
    assert STANDARD_RULES.match(disguised) is not None


@given(st.text(max_size=300))
def test_any_text_is_a_keyword_or_not_without_error(text: str) -> None:
    match = STANDARD_RULES.match(text)
    if match is not None:
        assert match.classes and match.languages
        assert words(match.keyword)
