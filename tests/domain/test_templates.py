"""Message templates: variables, missing values, filters, syntax errors and the sandbox."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recado.domain.templates import (
    MAX_OUTPUT_LENGTH,
    RenderContext,
    TemplateProblem,
    TemplateRenderProblem,
    TemplateSecurityProblem,
    TemplateSyntaxProblem,
    compile_template,
    format_currency,
    format_date,
    render,
    template_variables,
    title_case,
)
from recado.errors import ValidationFailed

MARIA = {"first_name": "Maria", "last_name": "Silva", "phone": "+5511987654321"}


def contact(**fields: object) -> RenderContext:
    return RenderContext(contact=fields)


# --- variables and missing values ----------------------------------------------------------


def test_contact_fields_and_campaign_context_fill_the_template() -> None:
    result = render(
        "Hi {{ first_name }}, use {{ discount_code }}",
        RenderContext(contact=MARIA, extra={"discount_code": "SAVE20"}),
    )
    assert result.text == "Hi Maria, use SAVE20"
    assert result.ok
    assert result.missing == ()


def test_missing_first_name_without_default_is_not_sendable() -> None:
    result = render("Hi {{ first_name }}, 20% off today", contact(phone="+5511987654321"))
    assert not result.ok
    assert result.missing == ("first_name",)


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_empty_first_name_counts_as_missing(empty: object) -> None:
    result = render("Hi {{ first_name }}!", contact(first_name=empty))
    assert not result.ok
    assert result.missing == ("first_name",)


@pytest.mark.parametrize("empty", [None, "", "missing"])
def test_default_filter_covers_a_missing_or_empty_value(empty: object) -> None:
    fields = {} if empty == "missing" else {"first_name": empty}
    result = render('Hi {{ first_name | default("there") }}!', RenderContext(contact=fields))
    assert result.text == "Hi there!"
    assert result.ok


def test_default_still_applies_after_other_filters() -> None:
    result = render('Hi {{ first_name | title | default("there") }}!', contact())
    assert result.text == "Hi there!"
    assert result.ok


def test_an_if_around_a_variable_makes_it_optional() -> None:
    source = "{% if first_name %}Hi {{ first_name }}!{% else %}Hi!{% endif %} Sale today."
    assert render(source, contact()).text == "Hi! Sale today."
    assert render(source, contact()).ok
    assert render(source, contact(first_name="Ana")).text == "Hi Ana! Sale today."


def test_or_gives_a_fallback() -> None:
    assert render('Hi {{ first_name or "there" }}', contact()).text == "Hi there"


def test_missing_lists_each_variable_once_in_order_of_use() -> None:
    result = render("{{ b }} {{ a }} {{ b }} {{ c | default('x') }}", contact())
    assert result.missing == ("b", "a")


def test_missing_value_in_a_computation_is_reported_not_raised() -> None:
    for source in ("{{ total + 1 }}", "{{ first_name.upper() }}", "{% if total > 3 %}x{% endif %}"):
        result = render(source, contact())
        assert not result.ok
        assert result.missing in (("total",), ("first_name",))


def test_zero_and_false_are_values_not_missing() -> None:
    result = render(
        "{{ points }} {{ vip }}", RenderContext(contact={}, extra={"points": 0, "vip": False})
    )
    assert result.text == "0 False"
    assert result.ok


def test_attributes_are_reachable_at_top_level_and_under_attributes() -> None:
    ctx = RenderContext(contact=MARIA, attributes={"city": "Recife"})
    assert render("{{ city }} / {{ attributes.city }} / {{ attributes['city'] }}", ctx).text == (
        "Recife / Recife / Recife"
    )


def test_a_contact_field_wins_over_an_attribute_of_the_same_name() -> None:
    ctx = RenderContext(contact={"email": "a@x.com"}, attributes={"email": "b@x.com"})
    assert render("{{ email }} {{ attributes.email }}", ctx).text == "a@x.com b@x.com"


def test_caller_context_wins_over_contact_and_attributes() -> None:
    ctx = RenderContext(
        contact={"first_name": "Maria"},
        attributes={"cart_url": "old"},
        extra={"cart_url": "https://rcd.to/new"},
    )
    assert render("{{ cart_url }}", ctx).text == "https://rcd.to/new"


def test_context_of_a_contact_row_takes_its_attributes() -> None:
    row = {"first_name": "Ana", "attributes": {"city": "Recife"}}
    ctx = RenderContext.of_contact(row, extra={"code": "X"}, language="pt-BR")
    assert render("{{ first_name }} {{ city }} {{ code }}", ctx).text == "Ana Recife X"
    assert ctx.language == "pt-BR"


def test_missing_attribute_is_named_with_its_prefix() -> None:
    result = render(
        "From {{ attributes.city }}", RenderContext(contact={}, attributes={"city": ""})
    )
    assert result.missing == ("attributes.city",)
    assert not result.ok


def test_attribute_named_like_a_method_reads_the_value() -> None:
    ctx = RenderContext(contact={}, attributes={"items": "3 books"})
    assert render("{{ attributes.items }}", ctx).text == "3 books"


def test_blank_output_is_not_sendable() -> None:
    result = render("{{ first_name | default('') }}", contact())
    assert result.missing == ()
    assert not result.ok


def test_autoescaping_is_off_for_sms_text() -> None:
    result = render("{{ shop }}", RenderContext(contact={}, extra={"shop": "Tom & Jerry <3"}))
    assert result.text == "Tom & Jerry <3"


def test_block_tags_leave_no_blank_lines() -> None:
    source = "Hi\n{% if vip %}\nVIP offer\n{% endif %}\nBye"
    assert render(source, RenderContext(contact={}, extra={"vip": True})).text == (
        "Hi\nVIP offer\nBye"
    )


def test_compiled_template_is_cached_by_source() -> None:
    assert compile_template("Hi {{ first_name }}") is compile_template("Hi {{ first_name }}")


def test_renders_in_threads_do_not_mix_their_missing_lists() -> None:
    template = compile_template("Hi {{ first_name }}")
    contacts = [contact(first_name=f"C{i}") if i % 2 else contact() for i in range(200)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(template.render, contacts))
    for i, result in enumerate(results):
        assert result.ok == bool(i % 2)
        assert result.missing == (() if i % 2 else ("first_name",))


def test_rendered_to_dict() -> None:
    assert render("Hi {{ x }}", contact()).to_dict() == {
        "text": "Hi ",
        "missing": ["x"],
        "ok": False,
    }


@given(st.text(alphabet=st.characters(blacklist_characters="{}\r"), max_size=300))
def test_text_without_template_code_renders_as_written(text: str) -> None:
    # Jinja drops one trailing newline of the source, as editors add one.
    assert render(text, contact()).text == text.removesuffix("\n")


# --- what a template uses ------------------------------------------------------------------


def test_template_variables_lists_names_in_order_with_their_defaults() -> None:
    found = template_variables(
        "Hi {{ first_name | default('there') }}, {{ discount_code }} in {{ attributes.city }}"
        "{% if last_name %} {{ last_name }}{% endif %}{% set x = 1 %}{{ x }}"
        "{% for item in items %}{{ item }}{% endfor %}{{ nick or 'you' }}"
    )
    assert found.names == (
        "first_name",
        "discount_code",
        "attributes.city",
        "last_name",
        "items",
        "nick",
    )
    assert found.with_default == ("first_name", "last_name", "items", "nick")
    assert found.required == ("discount_code", "attributes.city")


def test_a_variable_used_once_without_default_is_required() -> None:
    found = template_variables("{{ first_name | default('there') }} {{ first_name }}")
    assert found.required == ("first_name",)


def test_template_variables_to_dict() -> None:
    assert template_variables("{{ a }}{{ b | d('x') }}").to_dict() == {
        "names": ["a", "b"],
        "with_default": ["b"],
        "required": ["a"],
    }


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("joão da silva", "João da Silva"),
        ("MARIA DOS SANTOS", "Maria dos Santos"),
        ("de souza", "De Souza"),
        ("ana e paulo", "Ana e Paulo"),
        ("ludwig van beethoven", "Ludwig van Beethoven"),
        ("jean-luc picard", "Jean-Luc Picard"),
        ("shaquille o'neal", "Shaquille O'Neal"),
        ("josé  del   río", "José  del   Río"),
    ],
)
def test_title_case_keeps_name_particles_lowercase(name: str, expected: str) -> None:
    assert title_case(name) == expected
    assert render("{{ n | title }}", RenderContext(contact={}, extra={"n": name})).text == expected


@given(st.text(alphabet=st.sampled_from("aãbcçdeéiíoõsuzAÃBCÇDEÉ -'"), max_size=40))
def test_title_case_is_stable(name: str) -> None:
    once = title_case(name)
    assert title_case(once) == once
    assert once.lower() == name.lower()


@pytest.mark.parametrize(
    ("amount", "code", "language", "expected"),
    [
        (1234.5, "USD", "en", "$1,234.50"),
        (1234.5, "BRL", "pt-BR", "R$ 1.234,50"),
        (1234.5, "EUR", "es", "1.234,50 €"),
        (1234.5, "MXN", "es", "$1.234,50"),
        (1234.5, "MXN", "es-MX", "$1,234.50"),
        (1234.5, "USD", "pt-BR", "US$ 1.234,50"),
        (1234.5, "GBP", "en-GB", "£1,234.50"),
        (1234.5, "ARS", "es-AR", "$1.234,50"),
        (1234.5, "XYZ", "en", "1,234.50 XYZ"),
        (1234.5, "jpy", "pt", "1.234,50 JPY"),
        (1234.5, "USD", "fr", "$1,234.50"),
        (-5, "USD", "en", "-$5.00"),
        (Decimal("0.005"), "USD", "en", "$0.01"),
        ("19.9", "BRL", "pt_br", "R$ 19,90"),
        (1234567, "BRL", "pt-BR", "R$ 1.234.567,00"),
    ],
)
def test_currency_is_written_the_way_the_contact_reads_it(
    amount: object, code: str, language: str, expected: str
) -> None:
    assert format_currency(amount, code, language) == expected


def test_currency_filter_uses_the_contact_language() -> None:
    ctx = RenderContext(contact={"language": "pt-BR"}, extra={"total": 1234.5})
    assert render("{{ total | currency('BRL') }}", ctx).text == "R$ 1.234,50"
    ctx = RenderContext(contact={"language": "pt-BR"}, extra={"total": 1234.5}, language="en")
    assert render("{{ total | currency('BRL') }}", ctx).text == "R$1,234.50"


@pytest.mark.parametrize("amount", ["abc", True, float("nan"), "1e30"])
def test_currency_refuses_what_is_not_an_amount(amount: object) -> None:
    with pytest.raises(TemplateRenderProblem):
        format_currency(amount)


def test_currency_refuses_an_unknown_code_shape() -> None:
    with pytest.raises(TemplateRenderProblem):
        format_currency(1, "dollars")


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2))
def test_currency_keeps_every_digit(amount: Decimal) -> None:
    for language in ("en", "pt-BR", "es"):
        written = format_currency(amount, "BRL", language)
        assert "".join(c for c in written if c.isdigit()) == f"{abs(amount):.2f}".replace(".", "")
        assert written.startswith("-") == (amount < 0)


@pytest.mark.parametrize(
    ("language", "style", "expected"),
    [
        ("en", "short", "Dec 1"),
        ("en", "long", "December 1, 2026"),
        ("pt-BR", "short", "1 de dezembro"),
        ("pt-BR", "long", "1 de dezembro de 2026"),
        ("es", "short", "1 de diciembre"),
        ("es-MX", "long", "1 de diciembre de 2026"),
        ("de", "short", "Dec 1"),
    ],
)
def test_dates_are_written_in_the_contact_language(
    language: str, style: str, expected: str
) -> None:
    assert format_date(date(2026, 12, 1), style, language) == expected


@pytest.mark.parametrize(
    "value", [date(2026, 3, 9), datetime(2026, 3, 9, 23, 59), "2026-03-09", "2026-03-09T10:00:00Z"]
)
def test_date_filter_accepts_dates_datetimes_and_iso_strings(value: object) -> None:
    ctx = RenderContext(contact={"language": "pt-BR"}, extra={"when": value})
    assert render("{{ when | date('long') }}", ctx).text == "9 de março de 2026"


def test_date_filter_refuses_what_is_not_a_date() -> None:
    with pytest.raises(TemplateRenderProblem):
        render("{{ when | date }}", RenderContext(contact={}, extra={"when": "next week"}))
    with pytest.raises(TemplateRenderProblem):
        render(
            "{{ when | date('medium') }}", RenderContext(contact={}, extra={"when": "2026-01-01"})
        )


def test_formatting_filters_pass_a_missing_value_to_default() -> None:
    result = render("{{ total | currency | default('soon') }} {{ when | date }}", contact())
    assert result.text == "soon "
    assert result.missing == ("when",)


def test_preview_fills_every_variable_with_a_typical_value() -> None:
    template = compile_template(
        "Hi {{ first_name }}, {{ discount_code }}: {{ total | currency }} by {{ when | date }} "
        "{{ cart_url }} {{ attributes.favourite_store }}"
    )
    preview = template.preview()
    assert preview.ok
    assert preview.text == (
        "Hi Maria, SAVE20: $49.90 by Dec 1 https://rcd.to/x7Kp2Q favourite store"
    )
    assert template.preview(samples={"first_name": "Jo"}).text.startswith("Hi Jo,")


# --- syntax errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "line", "says"),
    [
        ("Hi {{ first_name", 1, "a '{{' is not closed"),
        ("Hi\nthere {{ first_name }\nbye", 2, "not a single '}'"),
        ("Hi {{ }}", 1, "is empty"),
        ("Hi {{ first name }}", 1, "no spaces"),
        ("{% if vip %}\nVIP\n", 1, "'{% if %}' block is not closed"),
        ("a\n{% if a %}{% if b %}{% endif %}", 2, "'{% if %}' block is not closed"),
        ("Hi\n{% endif %}", 2, "has no opening '{% if %}'"),
        ("{% if a %}{% endfor %}", 1, "does not close the open '{% if %}'"),
        ("{% shout %}", 1, "is not a tag"),
        ("{{ name | shout }}", 1, "no filter called 'shout'"),
        ("{{ name | default('there) }}", 1, "quote is not closed"),
        ("{# note", 1, "comment is not closed"),
    ],
)
def test_syntax_errors_point_to_the_line_in_plain_words(source: str, line: int, says: str) -> None:
    with pytest.raises(TemplateSyntaxProblem) as caught:
        compile_template(source)
    assert caught.value.line == line
    assert says in caught.value.message
    assert caught.value.message.startswith(f"Line {line}: ")


def test_template_problems_are_validation_errors() -> None:
    with pytest.raises(ValidationFailed) as caught:
        compile_template("Hi {{ first_name")
    assert caught.value.code == "template_syntax_error"
    assert caught.value.status == 422


# --- the sandbox ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ first_name.__class__ }}",
        "{{ first_name['__class__'] }}",
        "{{ first_name[key] }}",
        "{{ first_name._private }}",
        "{{ range.__self__ }}",
    ],
)
def test_sandbox_blocks_reaching_python_internals(source: str) -> None:
    ctx = RenderContext(contact=MARIA, extra={"key": "__class__"})
    with pytest.raises(TemplateSecurityProblem):
        render(source, ctx)


@pytest.mark.parametrize("name", ["config", "self", "request", "cycler", "lipsum", "namespace"])
def test_framework_names_are_refused(name: str) -> None:
    with pytest.raises(TemplateSecurityProblem) as caught:
        compile_template(f"{{{{ {name} }}}}")
    assert caught.value.line == 1


@pytest.mark.parametrize(
    "source",
    [
        "{% for x in range(10**9) %}{% endfor %}",
        "{{ range(5000) | length }}",
        "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
        "{{ 2 ** 100000 }}",
        "{{ '%999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'x'.ljust(999999999) }}",
        "{{ (1).to_bytes(999999999, 'big') }}",
        "{{ items.append(1) }}",
        "{% macro boom(s) %}{{ boom(s ~ s) }}{% endmacro %}{{ boom('x') }}",
        "{% for x in items recursive %}{{ loop([x ~ x]) }}{% endfor %}",
        "{% include 'other.txt' %}",
        "{% extends 'base.txt' %}",
        "{% import 'm.txt' as m %}",
    ],
)
def test_sandbox_refuses_attacks_on_cpu_memory_and_other_templates(source: str) -> None:
    ctx = RenderContext(contact={}, extra={"items": [1, 2]})
    with pytest.raises(TemplateSecurityProblem):
        render(source, ctx)


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 100000 }}",
        "{% set a = 'x' * 9000 %}{{ a ~ a }}",
        "{% set a = 'x' * 9000 %}{{ a + a }}",
        "{% set a = 'x' * 9000 %}{{ a | replace('x', 'yy') }}",
        "{{ range(1000) | join('x' * 100) }}",
        "{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}",
        "{{ 'x' * 6000 }}{{ 'x' * 6000 }}",
    ],
)
def test_output_is_limited_in_size(source: str) -> None:
    with pytest.raises(TemplateRenderProblem):
        render(source, contact())


def test_a_message_just_under_the_limit_renders() -> None:
    assert len(render(f"{{{{ 'x' * {MAX_OUTPUT_LENGTH} }}}}", contact()).text) == MAX_OUTPUT_LENGTH


def test_reasonable_loops_and_string_methods_work() -> None:
    ctx = RenderContext(contact={}, extra={"items": ["tea", "cake"], "code": " save20 "})
    source = "{% for i in items %}{{ loop.index }}.{{ i | upper }} {% endfor %}{{ code.strip().upper() }}"
    assert render(source, ctx).text == "1.TEA 2.CAKE SAVE20"


class Row:
    """Stands for an object a caller might put in the context, such as an ORM row."""

    def __init__(self) -> None:
        self.name = "Ana"
        self.deleted = False

    def delete(self) -> None:
        self.deleted = True


def test_objects_in_the_context_expose_data_but_not_methods() -> None:
    row = Row()
    ctx = RenderContext(contact={}, extra={"row": row})
    assert render("{{ row.name }}", ctx).text == "Ana"
    with pytest.raises(TemplateSecurityProblem):
        render("{{ row.delete() }}", ctx)
    assert not row.deleted


def test_every_template_problem_is_typed() -> None:
    with pytest.raises(TemplateProblem):
        render("{{ 1 / 0 }}", contact())
