"""Lint of message templates: each check, its severity and its advice."""

from __future__ import annotations

import pytest

from recado.domain.lint import PUBLIC_SHORTENERS, Finding, lint

CLEAN = "Acme: hi {{ first_name | default('there') }}, 20% off today. Reply STOP to opt out"


def codes(findings: list[Finding]) -> list[str]:
    return [finding.code for finding in findings]


def only(findings: list[Finding], code: str) -> Finding:
    matching = [finding for finding in findings if finding.code == code]
    assert len(matching) == 1, codes(findings)
    return matching[0]


def test_a_clean_marketing_message_has_no_findings() -> None:
    assert lint(CLEAN, category="marketing", brand="Acme", short_domain="go.acme.co") == []


# --- brand ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "Acme: sale today. Reply STOP to opt out",
        "[Acme] sale today. Reply STOP to opt out",
        "ACME - sale today. Reply STOP to opt out",
        "  acme: sale today. Reply STOP to opt out",
        "Hi {{ first_name | default('there') }}, Acme here. Reply STOP to opt out",
    ],
)
def test_brand_at_the_start_in_any_usual_form_is_accepted(source: str) -> None:
    assert "brand_missing" not in codes(lint(source, category="marketing", brand="Acme"))


def test_brand_missing_from_the_start_is_flagged() -> None:
    source = "Huge sale on everything in store today, from Acme. Reply STOP to opt out"
    finding = only(lint(source, category="marketing", brand="Acme"), "brand_missing")
    assert finding.severity == "warning"
    assert "Acme:" in finding.fix


def test_brand_is_not_required_of_transactional_messages() -> None:
    assert lint("Your code is 123456", category="transactional", brand="Acme") == []


# --- opt-out -------------------------------------------------------------------------------


def test_marketing_message_without_opt_out_is_flagged() -> None:
    finding = only(lint("Acme: sale today", category="marketing"), "opt_out_missing")
    assert finding.severity == "warning"


@pytest.mark.parametrize("instruction", ["Responda SAIR para cancelar", "Responde BAJA"])
def test_opt_out_in_another_language_is_accepted(instruction: str) -> None:
    source = f"Acme: oferta hoje. {instruction}"
    assert "opt_out_missing" not in codes(lint(source, category="marketing"))


def test_opt_out_is_not_required_when_the_footer_will_be_added() -> None:
    findings = lint("Acme: sale today", category="marketing", footer_will_be_added=True)
    assert "opt_out_missing" not in codes(findings)


def test_opt_out_is_not_required_of_transactional_messages() -> None:
    assert "opt_out_missing" not in codes(lint("Your order shipped", category="transactional"))


# --- parts and encoding --------------------------------------------------------------------


def test_message_over_the_part_limit_is_flagged() -> None:
    source = "Acme: " + "great deals " * 40 + "Reply STOP to opt out"  # 507 characters
    finding = only(lint(source, category="marketing"), "too_many_parts")
    assert finding.severity == "warning"
    assert finding.details == {"parts": 4, "encoding": "GSM-7", "limit": 3}
    assert "too_many_parts" not in codes(lint(source, category="marketing", max_parts=4))


def test_automatic_footer_counts_toward_the_parts() -> None:
    source = "Acme: " + "x" * 148  # 154 characters: one part alone, two with the footer
    assert "too_many_parts" not in codes(lint(source, category="marketing", max_parts=1))
    findings = lint(source, category="marketing", max_parts=1, footer_will_be_added=True)
    assert only(findings, "too_many_parts").details["parts"] == 2


def test_parts_are_counted_on_a_preview_with_typical_values() -> None:
    # The source is longer than one part, the message with "Maria" in it is not.
    source = "{{ first_name | default('there') }}" + "x" * 155
    assert lint(source, category="transactional", max_parts=1) == []
    findings = lint(source + "x", category="transactional", max_parts=1)
    assert only(findings, "too_many_parts").details["parts"] == 2


def test_characters_forcing_ucs2_are_listed_with_the_parts_they_cost() -> None:
    source = "Acme: promoção de verão! " + "Aproveite as ofertas. " * 4 + "Responda SAIR"
    finding = only(lint(source, category="marketing"), "ucs2_characters")
    assert finding.details["characters"] == ["ç", "ã"]
    assert finding.details["parts"] == 2
    assert finding.details["parts_without"] == 1
    assert finding.details["parts_saved"] == 1
    assert finding.severity == "warning"
    assert "ç, ã" in finding.message


def test_smart_encoding_is_suggested_for_look_alike_punctuation() -> None:
    source = "Acme: it\u2019s here \u2014 " + "big sale " * 10 + "Reply STOP to opt out"
    finding = only(lint(source, category="marketing"), "ucs2_characters")
    assert finding.details["characters"] == ["\u2019", "\u2014"]
    assert finding.details["parts_with_smart_encoding"] == 1
    assert "smart encoding" in finding.fix


def test_ucs2_that_costs_no_extra_part_is_only_information() -> None:
    finding = only(lint("Olá! 👋", category="transactional"), "ucs2_characters")
    assert finding.severity == "info"
    assert finding.details["parts_saved"] == 0


# --- links ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link", ["https://bit.ly/3xYz", "bit.ly/3xYz", "http://www.tinyurl.com/abc", "t.co/abc"]
)
def test_public_shortener_link_is_flagged(link: str) -> None:
    source = f"Acme: sale at {link}. Reply STOP to opt out"
    finding = only(
        lint(source, category="marketing", short_domain="go.acme.co"), "public_shortener"
    )
    assert finding.severity == "warning"
    assert finding.details["url"] == link


def test_domains_that_merely_contain_a_shortener_are_not_flagged() -> None:
    source = "Acme: see https://t.com/x and https://abit.ly.example/y. Reply STOP to opt out"
    assert "public_shortener" not in codes(lint(source, category="marketing"))


def test_every_listed_shortener_is_recognized() -> None:
    for domain in PUBLIC_SHORTENERS:
        assert "public_shortener" in codes(
            lint(f"see https://{domain}/a", category="transactional")
        )


def test_unshortened_url_is_flagged_when_the_workspace_has_a_short_domain() -> None:
    source = "Acme: see https://shop.acme.com/promo/black-friday. Reply STOP to opt out"
    finding = only(
        lint(source, category="marketing", short_domain="go.acme.co"), "url_not_shortened"
    )
    assert finding.severity == "info"
    assert finding.details["url"] == "https://shop.acme.com/promo/black-friday"
    assert finding.details["characters_saved"] > 0


@pytest.mark.parametrize("short_domain", ["go.acme.co", "https://go.acme.co/", "GO.ACME.CO"])
def test_links_on_the_short_domain_are_fine(short_domain: str) -> None:
    source = "Acme: see https://go.acme.co/x7Kp2Q. Reply STOP to opt out"
    assert lint(source, category="marketing", short_domain=short_domain) == []


def test_urls_are_not_judged_without_a_short_domain() -> None:
    source = "Acme: see https://shop.acme.com/promo. Reply STOP to opt out"
    assert lint(source, category="marketing") == []


# --- capitals ------------------------------------------------------------------------------


def test_all_caps_words_are_flagged_except_keywords_acronyms_and_brand() -> None:
    source = (
        "ACME: HUGE SALE in the USA! Your OTP is not needed. Code SAVE20 OK. "
        "Reply STOP to opt out, HELP for help. FREE shipping"
    )
    finding = only(lint(source, category="marketing", brand="Acme"), "all_caps")
    assert finding.details["words"] == ["HUGE", "SALE", "FREE"]
    assert finding.severity == "info"


def test_capitals_inside_template_code_and_links_are_ignored() -> None:
    source = "Acme: {{ CODE | default('NONE') }} https://go.acme.co/ABC. Reply STOP to opt out"
    assert "all_caps" not in codes(lint(source, category="marketing"))


# --- template ------------------------------------------------------------------------------


def test_contact_variable_without_default_is_a_warning() -> None:
    source = "Acme: hi {{ first_name }}, {{ attributes.city }} deals. Reply STOP to opt out"
    findings = [
        f for f in lint(source, category="marketing") if f.code == "variable_without_default"
    ]
    assert [(f.details["variable"], f.severity) for f in findings] == [
        ("first_name", "warning"),
        ("attributes.city", "warning"),
    ]
    assert 'default("there")' in findings[0].fix


def test_campaign_variable_without_default_is_information() -> None:
    findings = lint("Your code: {{ discount_code }}", category="transactional")
    finding = only(findings, "variable_without_default")
    assert finding.severity == "info"
    assert finding.details == {"variable": "discount_code"}


def test_variable_with_default_is_not_flagged() -> None:
    assert lint("Hi {{ first_name | default('there') }}", category="transactional") == []


def test_template_syntax_error_is_an_error_and_comes_first() -> None:
    findings = lint("SALE TODAY\nHi {{ first_name", category="marketing", brand="Acme")
    assert findings[0].severity == "error"
    assert findings[0].code == "template_syntax"
    assert findings[0].details == {"line": 2}
    assert "'{{' is not closed" in findings[0].message
    assert {"brand_missing", "opt_out_missing", "all_caps"} <= set(codes(findings))


def test_forbidden_template_is_an_error() -> None:
    finding = only(lint("{{ ''.__class__ }}", category="transactional"), "template_not_allowed")
    assert finding.severity == "error"


def test_template_failing_on_sample_values_is_an_error() -> None:
    finding = only(lint("{{ 'x' * 20000 }}", category="transactional"), "template_render_failed")
    assert finding.severity == "error"


def test_findings_are_sorted_by_severity() -> None:
    findings = lint(
        "BIG sale {{ discount_code }} at https://bit.ly/x {{ first_name }",
        category="marketing",
        brand="Acme",
    )
    order = {"error": 0, "warning": 1, "info": 2}
    assert [order[f.severity] for f in findings] == sorted(order[f.severity] for f in findings)


def test_finding_to_dict() -> None:
    finding = only(lint("Acme: sale", category="marketing"), "opt_out_missing")
    assert finding.to_dict() == {
        "severity": "warning",
        "code": "opt_out_missing",
        "message": "This marketing message does not say how to opt out.",
        "fix": "End it with 'Reply STOP to opt out', or turn on the automatic opt-out footer.",
        "details": {},
    }
