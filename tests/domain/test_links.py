"""Finding URLs in texts, link codes and short links: pure functions, no database."""

from __future__ import annotations

import collections

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recado.domain.encoding import analyze
from recado.domain.links import (
    CODE_ALPHABET,
    FoundUrl,
    code_stream,
    find_urls,
    is_code,
    link_base,
    new_code,
    new_codes,
    replace_urls,
    short_url,
    short_url_length,
    with_placeholder_links,
)


def urls(text: str, **kwargs: str) -> list[str]:
    return [found.url for found in find_urls(text, **kwargs)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Visit https://acme.com.", ["https://acme.com"]),
        ("Visit https://acme.com, today", ["https://acme.com"]),
        ("Deals (https://acme.com/sale) now!", ["https://acme.com/sale"]),
        ("Wow https://acme.com/sale!", ["https://acme.com/sale"]),
        ("Really? https://acme.com/faq?", ["https://acme.com/faq"]),
        ("Go https://acme.com/a;", ["https://acme.com/a"]),
        ("Hmm https://acme.com/a...", ["https://acme.com/a"]),
        (
            "Wiki (https://en.wikipedia.org/wiki/Foo_(bar)).",
            ["https://en.wikipedia.org/wiki/Foo_(bar)"],
        ),
        ("Said 'https://acme.com/x'", ["https://acme.com/x"]),
        ('Said "https://acme.com/x"', ["https://acme.com/x"]),
        ("Acesse https://loja.com.br/promoção!", ["https://loja.com.br/promoção"]),
        ("Veja «https://loja.com.br/verão» já", ["https://loja.com.br/verão"]),
        (
            "Olá João, confira: https://acme.com.br/p?cor=azul&tam=M…",
            ["https://acme.com.br/p?cor=azul&tam=M"],
        ),
        ("¡Mira https://acme.mx/oferta!", ["https://acme.mx/oferta"]),
        ("http://acme.com/a\nhttps://acme.com/b", ["http://acme.com/a", "https://acme.com/b"]),
        ("HTTPS://ACME.COM/X", ["HTTPS://ACME.COM/X"]),
        ("<https://acme.com/x>", ["https://acme.com/x"]),
        ("https://acme.com:8443/x?a=1&b=2#frag", ["https://acme.com:8443/x?a=1&b=2#frag"]),
    ],
)
def test_urls_are_found_without_the_punctuation_around_them(text, expected):
    assert urls(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "No links here",
        "ftp://acme.com/file",
        "https://",
        "https://...",
        "mailto:ana@acme.com",
        "acme.com/sale",
        "xhttps://acme.com",
    ],
)
def test_things_that_are_not_http_urls_are_not_found(text):
    assert find_urls(text) == []


def test_positions_point_at_the_url_in_the_text():
    text = "Olá! Veja https://acme.com/a, e https://acme.com/b."
    for found in find_urls(text):
        assert text[found.start : found.end] == found.url


def test_urls_already_on_the_short_link_host_are_skipped():
    text = "https://go.acme.com/l/Ab12Cd34 https://GO.acme.com/x https://go.acme.com.evil.io/x"
    assert urls(text, skip_base="https://go.acme.com") == ["https://go.acme.com.evil.io/x"]
    own = "http://127.0.0.1:8000/l/Ab12Cd34 http://127.0.0.1:9000/x"
    assert urls(own, skip_base="http://127.0.0.1:8000") == ["http://127.0.0.1:9000/x"]


def test_short_domain_gets_https_and_recado_url_is_used_as_is():
    assert link_base("go.acme.com", "http://127.0.0.1:8000") == "https://go.acme.com"
    assert link_base(None, "http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert link_base(None, "https://sms.acme.com") == "https://sms.acme.com"
    assert short_url("https://go.acme.com", "Ab12Cd34") == "https://go.acme.com/l/Ab12Cd34"


def test_codes_are_eight_base62_characters_by_default_and_differ():
    codes = new_codes(10_000)
    assert all(len(code) == 8 and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert len(set(codes)) == len(codes)
    assert len(new_code()) == 8
    assert len(new_code(12)) == 12


def test_codes_use_every_character_about_equally():
    counts = collections.Counter("".join(new_codes(20_000)))
    expected = 20_000 * 8 / 62
    assert set(counts) == set(CODE_ALPHABET)
    assert all(abs(n - expected) < expected * 0.15 for n in counts.values())


def test_a_code_stream_keeps_giving_distinct_codes():
    stream = code_stream(block=16)
    codes = [next(stream) for _ in range(100)]
    assert all(is_code(code) and len(code) == 8 for code in codes)
    assert len(set(codes)) == 100


@pytest.mark.parametrize("length", [0, 7, 25])
def test_codes_shorter_than_eight_or_wider_than_the_column_are_refused(length):
    with pytest.raises(ValueError, match="8 to 24"):
        new_codes(1, length)


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ("Ab12Cd34", True),
        ("Ab12Cd34Ef56Gh78Ij90Kl12", True),
        ("Ab12Cd3", False),
        ("Ab12Cd34Ef56Gh78Ij90Kl123", False),
        ("Ab12-d34", False),
        ("Ab12Cd34/", False),
        ("ÁbcdefgH", False),
        ("", False),
    ],
)
def test_code_shape_is_checked(value, shape):
    assert is_code(value) is shape


def test_replace_urls_puts_each_occurrence_in_place():
    text = "A https://acme.com/x, B https://acme.com/x."
    first, second = find_urls(text)
    assert replace_urls(text, {first: "S1", second: "S2"}) == "A S1, B S2."
    assert replace_urls(text, {second: "S2"}) == "A https://acme.com/x, B S2."
    assert replace_urls(text, {}) == text


def test_placeholder_text_has_the_length_and_parts_of_the_shortened_text():
    base = "https://go.acme.com"
    text = "Acme: Hi Ana, 20% off at https://acme.com/sale?utm=sms&campaign=black-friday-2026. Reply STOP"
    placeholder = with_placeholder_links(text, base)
    real = replace_urls(text, {found: short_url(base, new_code()) for found in find_urls(text)})
    assert len(placeholder) == len(real)
    assert short_url_length(base) == len(short_url(base, new_code())) == 30
    assert analyze(placeholder).segments == analyze(real).segments
    assert analyze(placeholder).encoding == analyze(real).encoding == "GSM-7"


_WORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=":/"), max_size=20
)
_PATHS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/?=&%#", max_size=30)


@given(before=_WORDS, path=_PATHS, after=_WORDS)
def test_replacing_found_urls_changes_nothing_but_the_urls(before, path, after):
    text = f"{before} https://acme.com/{path} {after}"
    found = find_urls(text)
    assert len(found) == 1
    [occurrence] = found
    assert occurrence.url.startswith("https://acme.com/")
    assert text[occurrence.start : occurrence.end] == occurrence.url
    short = replace_urls(text, {occurrence: "<S>"})
    assert short == text[: occurrence.start] + "<S>" + text[occurrence.end :]


def test_found_urls_are_named_tuples_that_sort_by_position():
    assert sorted([FoundUrl(9, 12, "b"), FoundUrl(1, 4, "a")])[0].url == "a"
