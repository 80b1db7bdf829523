"""The ready-made template library: every entry compiles, renders, passes lint and fits."""

from __future__ import annotations

import re

import pytest

from recado.domain.encoding import analyze
from recado.domain.footer import DEFAULT_FOOTERS, has_opt_out_instruction, with_footer
from recado.domain.lint import lint
from recado.domain.template_library import (
    LANGUAGES,
    LibraryTemplate,
    bind_brand,
    find_library_templates,
    library_template,
    library_templates,
    library_use_cases,
)
from recado.domain.templates import RenderContext, compile_template, template_variables

ENTRIES = library_templates()
MARKETING = [e for e in ENTRIES if e.category == "marketing"]
TRANSACTIONAL = [e for e in ENTRIES if e.category == "transactional"]
LONGEST_BRAND = "Acme Outfitters"  # the 15 characters max_parts is promised for
NAME_FALLBACK = {"en": "there", "pt-BR": "cliente", "es": "cliente"}
SERVICE_ONLY = ("otp", "order_shipped", "appointment_reminder")
MARKETING_WORDS = re.compile(
    r"\b(offer|offers|sale|discount|deal|shop|buy|promo\w*|coupon|off|oferta\w*|desconto|"
    r"cupom|compre|aproveite|descuento|cup[oó]n|compra|ll[eé]vate)\b|%|https?://",
    re.IGNORECASE,
)


def label(entry: LibraryTemplate) -> str:
    return f"{entry.id}-{entry.language}"


def rendered(entry: LibraryTemplate, brand: str = "Acme", **context: object) -> str:
    result = compile_template(entry.body).render(
        RenderContext.of_contact(
            {}, extra={"brand": brand, **entry.sample, **context}, language=entry.language
        )
    )
    assert result.ok, (label(entry), result.missing)
    return result.text


def as_sent(entry: LibraryTemplate, brand: str = "Acme") -> str:
    text = rendered(entry, brand)
    return with_footer(text, entry.language) if entry.category == "marketing" else text


# --- the whole library -------------------------------------------------------------------------


def test_the_library_covers_every_use_case_in_every_language() -> None:
    assert set(library_use_cases()) == {
        "welcome",
        "double_opt_in",
        "abandoned_cart",
        "promotion",
        "back_in_stock",
        "order_shipped",
        "appointment_reminder",
        "feedback_survey",
        "win_back",
        "otp",
    }
    ids = {entry.id for entry in ENTRIES}
    assert {"abandoned_cart_1", "abandoned_cart_2", "abandoned_cart_3"} <= ids
    for template_id in ids:
        languages = [e.language for e in ENTRIES if e.id == template_id]
        assert languages == list(LANGUAGES), template_id


def test_abandoned_cart_has_three_steps_only_the_last_with_a_discount() -> None:
    steps = find_library_templates(use_case="abandoned_cart", language="en")
    assert [s.id for s in steps] == ["abandoned_cart_1", "abandoned_cart_2", "abandoned_cart_3"]
    assert ["discount_code" in s.variables for s in steps] == [False, False, True]


@pytest.mark.parametrize("entry", ENTRIES, ids=label)
def test_every_template_compiles_and_declares_exactly_the_variables_it_uses(
    entry: LibraryTemplate,
) -> None:
    assert set(template_variables(entry.body).names) == set(entry.variables)
    assert all(meaning.strip() for meaning in entry.variables.values())
    assert entry.name.strip() and entry.description.strip()


@pytest.mark.parametrize("entry", ENTRIES, ids=label)
def test_every_template_renders_from_its_fallbacks_and_sample_alone(
    entry: LibraryTemplate,
) -> None:
    variables = template_variables(entry.body)
    # The sample provides exactly what has no fallback, besides the brand.
    assert set(entry.sample) == set(variables.required) - {"brand"}
    text = rendered(entry)
    assert "{{" not in text and "  " not in text


@pytest.mark.parametrize("entry", ENTRIES, ids=label)
def test_every_template_starts_with_the_brand(entry: LibraryTemplate) -> None:
    assert entry.body.startswith("{{ brand }}: ")
    assert rendered(entry).startswith("Acme: ")


@pytest.mark.parametrize("entry", ENTRIES, ids=label)
def test_every_template_passes_lint_without_errors_or_warnings(entry: LibraryTemplate) -> None:
    findings = lint(
        bind_brand(entry.body, "Acme"),
        category=entry.category,
        brand="Acme",
        footer_will_be_added=entry.category == "marketing",
        language=entry.language,
    )
    serious = [(f.severity, f.code, f.message) for f in findings if f.severity != "info"]
    assert serious == []


@pytest.mark.parametrize("entry", [e for e in ENTRIES if "first_name" in e.variables], ids=label)
def test_a_contact_without_a_first_name_gets_the_languages_fallback(
    entry: LibraryTemplate,
) -> None:
    assert "first_name" in template_variables(entry.body).with_default
    assert NAME_FALLBACK[entry.language] in rendered(entry)
    assert "Maria" in rendered(entry, first_name="Maria")


# --- footer and category -------------------------------------------------------------------------


@pytest.mark.parametrize("entry", MARKETING, ids=label)
def test_marketing_templates_get_the_footer_in_their_language(entry: LibraryTemplate) -> None:
    # The body leaves the opt-out to the automatic footer, so it is never doubled.
    assert not has_opt_out_instruction(entry.body)
    sent = as_sent(entry)
    assert sent.endswith("\n" + DEFAULT_FOOTERS[entry.language])
    assert sent.count(DEFAULT_FOOTERS[entry.language]) == 1


@pytest.mark.parametrize("entry", TRANSACTIONAL, ids=label)
def test_transactional_templates_get_no_footer(entry: LibraryTemplate) -> None:
    assert as_sent(entry) == rendered(entry)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_double_opt_in_request_says_how_to_confirm_and_how_to_cancel(language: str) -> None:
    entry = library_template("double_opt_in", language)
    assert entry is not None and entry.category == "transactional"
    assert has_opt_out_instruction(rendered(entry))
    confirm = {"en": "Reply YES", "pt-BR": "Responda SIM", "es": "Responde SI"}[language]
    assert confirm in rendered(entry)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.id in SERVICE_ONLY], ids=label)
def test_service_messages_carry_no_marketing_content(entry: LibraryTemplate) -> None:
    assert entry.category == "transactional"
    text = rendered(entry).replace(entry.sample.get("tracking_url", "\0"), "")
    assert MARKETING_WORDS.search(text) is None, text
    assert not has_opt_out_instruction(text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_otp_is_only_the_code_its_expiry_and_a_warning(language: str) -> None:
    entry = library_template("otp", language)
    assert entry is not None
    assert set(entry.variables) == {"brand", "code", "minutes"}
    text = rendered(entry)
    assert "482913" in text and "10" in text
    assert MARKETING_WORDS.search(text) is None
    findings = lint(bind_brand(entry.body, "Acme"), category="transactional", brand="Acme")
    assert all(finding.severity == "info" for finding in findings)


# --- size ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=label)
def test_every_template_fits_the_parts_it_claims_footer_included(entry: LibraryTemplate) -> None:
    assert 1 <= entry.max_parts <= 2
    for brand in ("Acme", LONGEST_BRAND):
        assert analyze(as_sent(entry, brand)).segments <= entry.max_parts, brand


@pytest.mark.parametrize("entry", ENTRIES, ids=label)
def test_portuguese_and_spanish_texts_stay_in_gsm7(entry: LibraryTemplate) -> None:
    # Accents outside GSM-7 would make every text Unicode: 70 characters a part, not 160.
    assert analyze(as_sent(entry, LONGEST_BRAND)).encoding == "GSM-7"


# --- lookup --------------------------------------------------------------------------------------


def test_lookup_by_language_matches_case_and_base_language() -> None:
    assert {e.language for e in find_library_templates(language="pt")} == {"pt-BR"}
    assert {e.language for e in find_library_templates(language="PT_br")} == {"pt-BR"}
    entry = library_template("otp", "es-MX")
    assert entry is not None and entry.language == "es"
    assert find_library_templates(language="de") == []
    assert library_template("otp", "de") is None
    assert library_template("no_such_template") is None
    assert find_library_templates(use_case="nothing") == []


def test_to_dict_has_every_field_of_an_entry() -> None:
    shaped = ENTRIES[0].to_dict()
    assert set(shaped) == {
        "id",
        "use_case",
        "category",
        "language",
        "name",
        "description",
        "body",
        "variables",
        "sample",
        "max_parts",
    }


# --- the brand ---------------------------------------------------------------------------------


def test_bind_brand_writes_the_brand_into_every_spelling_of_the_variable() -> None:
    source = "{{brand}}: hi. {{ brand }} {{- brand -}} {{ brand_name }}"
    assert bind_brand(source, "Acme") == "Acme: hi. Acme Acme {{ brand_name }}"


def test_a_brand_that_looks_like_template_code_stays_literal() -> None:
    source = bind_brand("{{ brand }}: hi", "Ac{{me}}")
    assert compile_template(source).render(RenderContext.of_contact({})).text == "Ac{{me}}: hi"


@pytest.mark.parametrize("entry", ENTRIES[:3], ids=label)
def test_binding_the_brand_renders_as_passing_it_in_the_context(entry: LibraryTemplate) -> None:
    bound = compile_template(bind_brand(entry.body, "Acme")).render(
        RenderContext.of_contact({}, extra=dict(entry.sample), language=entry.language)
    )
    assert bound.text == rendered(entry)
