"""The opt-out footer: when it is added, in which language, and what counts as one already."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recado.domain.footer import (
    DEFAULT_FOOTERS,
    FooterSettings,
    footer_text,
    has_opt_out_instruction,
    with_footer,
)
from recado.errors import ValidationFailed


def test_english_footer_is_appended_on_a_new_line() -> None:
    assert with_footer("Acme: 20% off today", "en") == "Acme: 20% off today\nReply STOP to opt out"


def test_footer_is_not_added_twice_in_portuguese() -> None:
    once = with_footer("Loja Acme: 20% de desconto hoje", "pt-BR")
    assert once == "Loja Acme: 20% de desconto hoje\nResponda SAIR para cancelar"
    assert with_footer(once, "pt-BR") == once


def test_spanish_footer() -> None:
    assert with_footer("Acme: 20% hoy", "es") == "Acme: 20% hoy\nResponde BAJA para cancelar"


def test_trailing_whitespace_is_not_kept_before_the_footer() -> None:
    assert with_footer("Hi there \n\n", "en") == "Hi there\nReply STOP to opt out"
    assert with_footer("", "en") == "Reply STOP to opt out"


@pytest.mark.parametrize(
    "text",
    [
        "Reply STOP to opt out",
        "Acme deals. Text STOP to 12345 to unsubscribe",
        "Msg&data rates may apply. Txt STOP to quit",
        "Reply with the word STOP to end",
        "Reply 'stop' to opt out",
        "STOP to end",
        "CANCEL to opt out",
        "Responda SAIR para cancelar",
        "Para cancelar, responda SAIR.",
        "Envie a palavra PARAR",
        "Responde BAJA para cancelar",
        "Envía BAJA al 555",
        "Responde con BAJA",
        "BAJA para darte de baja",
        "Unsubscribe: reply UNSUBSCRIBE",
    ],
)
def test_an_instruction_in_any_language_is_recognized(text: str) -> None:
    assert has_opt_out_instruction(text)
    assert with_footer(f"Acme: big sale. {text}", "en") == f"Acme: big sale. {text}"


@pytest.mark.parametrize(
    "text",
    [
        "Don't stop the deals!",
        "Stop by our store today",
        "Text your friends to stop by",
        "Send the end-of-season deals to a friend",
        "Nossas ofertas não vão parar",
        "Baja de precios en toda la tienda",
        "Reply to this message to book",
        "Cancel anytime in the app",
        "",
    ],
)
def test_plain_mentions_of_keywords_are_not_instructions(text: str) -> None:
    assert not has_opt_out_instruction(text)


@pytest.mark.parametrize(
    "text", ["REPLY stop TO OPT OUT", "envíe baja", "RESPONDA sAiR", "ｒｅｐｌｙ ＳＴＯＰ"]
)
def test_detection_ignores_case_accents_and_width(text: str) -> None:
    assert has_opt_out_instruction(text)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Reply STOP to opt out"),
        ("en-US", "Reply STOP to opt out"),
        ("pt-BR", "Responda SAIR para cancelar"),
        ("pt_br", "Responda SAIR para cancelar"),
        ("pt-PT", "Responda SAIR para cancelar"),
        ("pt", "Responda SAIR para cancelar"),
        ("es-MX", "Responde BAJA para cancelar"),
        ("fr", "Reply STOP to opt out"),
        (None, "Reply STOP to opt out"),
        ("", "Reply STOP to opt out"),
    ],
)
def test_language_matches_by_base_language_then_falls_back(
    language: str | None, expected: str
) -> None:
    assert footer_text(language) == expected


def test_workspace_texts_and_fallback_are_configurable() -> None:
    settings = FooterSettings(
        texts={**DEFAULT_FOOTERS, "pt-PT": "Envie SAIR para deixar de receber"},
        fallback_language="pt-BR",
    )
    assert footer_text("pt-PT", settings) == "Envie SAIR para deixar de receber"
    assert footer_text("pt-BR", settings) == "Responda SAIR para cancelar"
    assert footer_text("de", settings) == "Responda SAIR para cancelar"
    assert with_footer("Oi", "pt-PT", settings) == "Oi\nEnvie SAIR para deixar de receber"


def test_a_footer_that_is_not_an_instruction_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="how to opt out"):
        FooterSettings(texts={"en": "Thanks for being a customer"})


def test_a_fallback_language_without_text_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="fallback"):
        FooterSettings(texts={"en": "Reply STOP to opt out"}, fallback_language="es")


def test_an_overlong_footer_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="characters"):
        FooterSettings(texts={"en": "Reply STOP to opt out " + "x" * 60})


languages = st.sampled_from(["en", "pt-BR", "pt-PT", "es", "es-MX", "fr", None])


@given(st.text(max_size=300), languages)
def test_with_footer_is_idempotent(text: str, language: str | None) -> None:
    once = with_footer(text, language)
    assert with_footer(once, language) == once


@given(st.text(max_size=300), languages)
def test_with_footer_always_leaves_an_instruction(text: str, language: str | None) -> None:
    result = with_footer(text, language)
    assert has_opt_out_instruction(result)
    assert result.startswith(text.rstrip())
