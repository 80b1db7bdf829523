"""GSM-7 and UCS-2 encoding, part splitting, smart encoding and the wire encoders."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from recado.domain import encoding
from recado.domain.encoding import (
    BASIC_TABLE,
    ESCAPE,
    EXTENSION_TABLE,
    LOOK_ALIKES,
    SIMPLE_UCS2_RANGES,
    NotGsm7Encodable,
    SegmentReport,
    _analyze_exact,
    _split_parts_exact,
    analyze,
    decode_gsm7_septets,
    grapheme_clusters,
    gsm7_septets,
    pack_septets,
    split_parts,
    ucs2_bytes,
    unpack_septets,
)

BASIC = [(code, char) for code, char in enumerate(BASIC_TABLE) if code != ESCAPE]
EXTENSION = sorted(EXTENSION_TABLE.items())
GSM_CHARS = [char for _, char in BASIC] + [char for _, char in EXTENSION]

gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=400)
# Long texts built from runs that straddle the part boundaries, with anything in between.
long_text = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from(["a" * 70, "ã" * 30, "€" * 20, "👍🏽" * 5, "e\u0301" * 9, "🇧🇷" * 4]),
    ),
    max_size=20,
).map("".join)
septets = st.binary(max_size=400).map(lambda data: bytes(b & 0x7F for b in data))


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# The tables


def test_basic_table_has_127_characters_and_the_escape() -> None:
    assert len(BASIC_TABLE) == 128
    assert len(set(BASIC_TABLE)) == 128
    assert BASIC_TABLE[ESCAPE] == "\x1b"


@pytest.mark.parametrize(("code", "char"), BASIC, ids=[f"{code:#04x}" for code, _ in BASIC])
def test_every_basic_character_costs_one_septet(code: int, char: str) -> None:
    report = analyze(char)
    assert report.encoding == "GSM-7"
    assert report.code_units == 1
    assert gsm7_septets(char) == bytes([code])
    assert decode_gsm7_septets(bytes([code])) == char


@pytest.mark.parametrize(("code", "char"), EXTENSION, ids=[repr(char) for _, char in EXTENSION])
def test_every_extension_character_costs_two_septets(code: int, char: str) -> None:
    report = analyze(char)
    assert report.encoding == "GSM-7"
    assert report.code_units == 2
    assert report.characters == 2
    assert gsm7_septets(char) == bytes([ESCAPE, code])
    assert decode_gsm7_septets(bytes([ESCAPE, code])) == char


def test_euro_sign_costs_two_septets() -> None:
    assert gsm7_septets("€") == b"\x1b\x65"
    assert analyze("5€").code_units == 3


def test_form_feed_is_an_extension_character() -> None:
    assert gsm7_septets("\f") == b"\x1b\x0a"


def test_the_escape_character_itself_forces_ucs2() -> None:
    assert analyze("\x1b").encoding == "UCS-2"


def test_lowercase_c_cedilla_forces_ucs2_while_the_capital_is_gsm() -> None:
    assert analyze("Ç").encoding == "GSM-7"
    report = analyze("ç")
    assert report.encoding == "UCS-2"
    assert report.non_gsm == ("ç",)


@pytest.mark.parametrize("char", list("áãâêíóôõúÀÁÃÂÊÍÓÔÕÚç"))
def test_portuguese_accents_missing_from_the_table_force_ucs2(char: str) -> None:
    assert analyze(f"Oi {char}").encoding == "UCS-2"


def test_portuguese_accents_in_the_table_stay_gsm() -> None:
    assert analyze("Até à noite, É você? Ç").encoding == "UCS-2"  # ê is not in the table
    assert analyze("Até à noite. É Ç").encoding == "GSM-7"


def test_portuguese_promotion_goes_ucs2_and_names_the_accents_once_each() -> None:
    report = analyze("Olá, João! Promoção de verão: 20% off até domingo.")
    assert report.encoding == "UCS-2"
    assert report.non_gsm == ("á", "ã", "ç")
    assert report.segments == 1


def test_backtick_is_not_gsm() -> None:
    assert analyze("`").encoding == "UCS-2"


# Counting


def test_empty_text_is_one_empty_gsm_part() -> None:
    report = analyze("")
    assert (report.encoding, report.segments, report.parts, report.characters) == (
        "GSM-7",
        1,
        ("",),
        0,
    )


def test_characters_count_what_the_reader_sees_in_ucs2() -> None:
    report = analyze("👨‍👩‍👧‍👦 ã 🇧🇷 e\u0301")
    assert report.characters == 7
    assert report.code_units == utf16_units("👨‍👩‍👧‍👦 ã 🇧🇷 e\u0301")


def test_character_outside_the_bmp_costs_two_ucs2_units() -> None:
    assert analyze("😀").code_units == 2


def test_crlf_counts_as_two_characters() -> None:
    assert analyze("a\r\nb").characters == 4
    assert analyze("ã\r\nb").characters == 4


def test_non_gsm_names_an_emoji_with_its_skin_tone_as_one_character() -> None:
    assert analyze("Oi 👍🏽 👍🏽 ç").non_gsm == ("👍🏽", "ç")


# Part boundaries


def test_160_gsm_characters_fit_one_part() -> None:
    assert analyze("a" * 160).segments == 1


def test_161_gsm_characters_take_two_parts_of_153_and_8() -> None:
    report = analyze("a" * 161)
    assert [len(part) for part in report.parts] == [153, 8]


def test_extension_characters_count_twice_toward_the_160() -> None:
    assert analyze("€" * 80).segments == 1
    assert analyze("€" * 80 + "a").segments == 2


def test_70_ucs2_units_fit_one_part() -> None:
    assert analyze("ã" * 70).segments == 1


def test_71_ucs2_units_take_two_parts_of_67_and_4() -> None:
    report = analyze("ã" * 71)
    assert [len(part) for part in report.parts] == [67, 4]


def test_escape_pair_at_position_153_moves_whole_to_the_next_part() -> None:
    report = analyze("a" * 152 + "€" + "b" * 10)
    assert report.parts[0] == "a" * 152
    assert report.parts[1] == "€" + "b" * 10


def test_surrogate_pair_at_unit_67_moves_whole_to_the_next_part() -> None:
    report = analyze("ã" * 66 + "😀" + "ã" * 10)
    assert report.parts[0] == "ã" * 66
    assert report.parts[1].startswith("😀")


@pytest.mark.parametrize(
    "cluster",
    [
        "👍🏽",  # skin tone
        "👨\u200d👩\u200d👧\u200d👦",  # ZWJ family
        "🇧🇷",  # flag: two regional indicators
        "1\ufe0f\u20e3",  # keycap
        "❤\ufe0f",  # variation selector
        "e\u0301",  # letter and combining mark
        "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # subdivision flag
    ],
    ids=["skin-tone", "zwj-family", "flag", "keycap", "variation-selector", "combining", "tags"],
)
def test_a_user_perceived_character_is_never_split_across_parts(cluster: str) -> None:
    size = utf16_units(cluster)
    for filler in range(67 - size + 1, 67):  # every position where the cluster straddles 67
        text = "ã" * filler + cluster + "ã" * 20
        report = analyze(text)
        assert report.parts[0] == "ã" * filler
        assert report.parts[1].startswith(cluster)


def test_two_flags_in_a_row_pair_their_regional_indicators_from_the_start() -> None:
    assert grapheme_clusters("🇧🇷🇵🇹🇺") == ["🇧🇷", "🇵🇹", "🇺"]


def test_a_character_longer_than_a_part_is_split_between_code_points() -> None:
    text = "ã" * 10 + "a" + "\u0301" * 100
    report = analyze(text)
    assert "".join(report.parts) == text
    assert all(utf16_units(part) <= 67 for part in report.parts)


@given(long_text)
def test_parts_join_back_to_the_text_and_fit_their_capacity(text: str) -> None:
    report = analyze(text)
    assert "".join(report.parts) == text
    assert report.segments == len(report.parts)
    if report.segments > 1:
        if report.encoding == "GSM-7":
            sizes, capacity = [len(gsm7_septets(part)) for part in report.parts], 153
        else:
            sizes, capacity = [utf16_units(part) for part in report.parts], 67
        assert all(0 < size <= capacity for size in sizes)


@given(long_text)
def test_part_boundaries_fall_between_user_perceived_characters(text: str) -> None:
    _, parts = split_parts(text)
    allowed, offset = {0}, 0
    for cluster in grapheme_clusters(text):
        inside = range(1, len(cluster)) if utf16_units(cluster) > 67 else range(0)
        allowed |= {offset + i for i in inside}
        offset += len(cluster)
        allowed.add(offset)
    ends = [sum(len(part) for part in parts[: i + 1]) for i in range(len(parts))]
    assert set(ends) <= allowed


@given(long_text)
def test_split_parts_sends_what_analyze_previews(text: str) -> None:
    report = analyze(text)
    assert split_parts(text) == (report.encoding, list(report.parts))


@given(gsm_text)
def test_gsm_text_is_always_gsm_7(text: str) -> None:
    report = analyze(text)
    assert report.encoding == "GSM-7"
    assert report.code_units == report.characters == len(gsm7_septets(text))


# Smart encoding


def test_smart_encoding_straightens_quotes_and_dashes() -> None:
    report = analyze("“Promo” de hoje – it’s on…", smart=True)
    assert report.encoding == "GSM-7"
    assert report.text == '"Promo" de hoje - it\'s on...'
    assert [r.to_dict() for r in report.replacements] == [
        {"from": "“", "to": '"', "count": 1},
        {"from": "”", "to": '"', "count": 1},
        {"from": "–", "to": "-", "count": 1},
        {"from": "’", "to": "'", "count": 1},
        {"from": "…", "to": "...", "count": 1},
    ]


def test_smart_encoding_reports_the_parts_it_saved() -> None:
    text = "Don’t miss it " * 10  # 140 characters: 3 UCS-2 parts, 1 GSM-7 part
    before = analyze(text)
    report = analyze(text, smart=True)
    assert before.segments == 3
    assert report.segments == 1
    assert report.segments_saved == 2
    assert report.replacements[0].count == 10


def test_smart_encoding_removes_zero_width_characters() -> None:
    report = analyze("Oi\u200b Ana\u200d\ufeff!", smart=True)
    assert report.text == "Oi Ana!"
    assert report.encoding == "GSM-7"


def test_smart_encoding_turns_non_breaking_spaces_into_spaces() -> None:
    assert analyze("R$\u00a050", smart=True).text == "R$ 50"


def test_smart_encoding_maps_full_width_forms_to_ascii() -> None:
    assert analyze("ＳＡＬＥ！ ５０％ ｛ｏｆｆ｝", smart=True).text == "SALE! 50% {off}"


def test_every_look_alike_becomes_gsm_7() -> None:
    for char, replacement in LOOK_ALIKES.items():
        assert analyze(char).encoding == "UCS-2", repr(char)
        assert analyze(replacement).encoding == "GSM-7", repr(char)


def test_smart_encoding_leaves_text_with_an_emoji_as_written() -> None:
    text = "“Oi” família 👨\u200d👩\u200d👧"
    report = analyze(text, smart=True)
    assert report.text == text
    assert report.encoding == "UCS-2"
    assert report.replacements == ()
    assert report.segments_saved == 0


def test_smart_encoding_never_rewrites_accented_letters() -> None:
    report = analyze("Promoção “boa”", smart=True)
    assert report.text == "Promoção “boa”"
    assert report.non_gsm == ("ç", "ã", "“", "”")


def test_smart_encoding_keeps_the_text_when_gsm_7_would_take_more_parts() -> None:
    text = "…" * 60  # 60 UCS-2 units: 1 part; as "..." 180 septets: 2 parts
    report = analyze(text, smart=True)
    assert report.text == text
    assert report.segments == 1


def test_smart_encoding_of_gsm_text_changes_nothing() -> None:
    report = analyze("Hello {name}", smart=True)
    assert report.text == "Hello {name}"
    assert report.replacements == ()


@given(
    st.lists(st.sampled_from(["a" * 40, "…", "’", "\u200b", "ã", "ＡＢ", " "]), max_size=40).map(
        "".join
    )
)
def test_smart_encoding_never_costs_parts(text: str) -> None:
    report = analyze(text, smart=True)
    assert report.segments == analyze(text).segments - report.segments_saved
    assert report.segments_saved >= 0


# The JSON shape


def test_to_dict_without_smart_has_exactly_the_report_fields() -> None:
    assert analyze("Oi ç").to_dict() == {
        "encoding": "UCS-2",
        "segments": 1,
        "characters": 4,
        "code_units": 4,
        "non_gsm": ["ç"],
        "parts": ["Oi ç"],
    }


def test_to_dict_with_smart_adds_what_smart_encoding_did() -> None:
    shape = analyze("it’s", smart=True).to_dict()
    assert shape["encoding"] == "GSM-7"
    assert shape["smart"] == {
        "replacements": [{"from": "’", "to": "'", "count": 1}],
        "segments_saved": 0,
        "text": "it's",
    }


# Fast paths: the same answers as the exact path, field for field

SPANISH = list("áéíóúüñÁÉÍÓÚÜÑ¿¡")
PORTUGUESE_LETTERS = list("áâãàçéêíóôõúüÁÂÃÀÇÉÊÍÓÔÕÚ")
LATIN_1 = [chr(code) for code in range(0xA0, 0x100)]
COMBINING = ["\u0301", "\u0303", "\u0327", "\u20e3", "\ufe0f", "\u200d", "\u200c", "\U000e0067"]
EMOJI = ["😀", "👍🏽", "🏽", "🇧🇷", "🇵", "👨\u200d👩\u200d👧", "❤\ufe0f", "1\ufe0f\u20e3", "©", "™"]
# Each of these sits on one side or the other of the UCS-2 fast path's edge.
EDGE = [
    *("\r\n", "\r", "\n", "\x1b", "\x00", "`", "\u00ad", "\u200b", "\u2028", "\ufeff"),
    *("’", "“", "…", "–", "\u00a0", "\u3000", "Ｓ", "ｰ", "\uff9e", "漢", "ア", "\u3099", "Ж"),
    *("\u0483", "Ω", "ệ", "\u1100", "\u1161", "\u11a8", "\uac00", "\u0600", "\u0915", "\u094d"),
    *("\u0e33", "\ud83d", "\ude00", "\U0001f600", "\U000110bd"),
]
PORTUGUESE = [
    "Olá, João! Promoção de verão: 50% de desconto até amanhã.",
    "Você já viu? Ações para o coração da família, só hoje em São Paulo. ",
    "ÚLTIMOS DIAS: frete grátis para Brasília. Às 18h a loja fecha.",
    "Avô, avó e três netos no pôr-do-sol; Ç e ç não são iguais. R$ 20,00",
]
ANY_PIECE = GSM_CHARS + SPANISH + PORTUGUESE_LETTERS + LATIN_1 + COMBINING + EMOJI + EDGE
# Runs whose length lands on, just before and just after the 70/67 and 160/153 boundaries
# and their multiples.
BOUNDARIES = sorted(
    {size + delta for size in (67, 70, 134, 153, 160, 201, 306, 459) for delta in (-2, -1, 0, 1, 2)}
)
lengths = st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, 330))
gsm_run = st.builds(
    lambda char, count: char * count, st.sampled_from(["a", "@", "€", "{", "\r\n"]), lengths
)
run = st.one_of(
    gsm_run,
    st.builds(
        lambda char, count: char * count, st.sampled_from(["ã", "ç", "Ж", "漢", "’"]), lengths
    ),
)
gsm_pieces = [
    gsm_run,
    st.text(st.sampled_from(GSM_CHARS), max_size=170),
    st.text(st.sampled_from([char for _, char in BASIC]), max_size=170),
]
latin = st.text(st.sampled_from(SPANISH + PORTUGUESE_LETTERS + [" ", "a", "€"]), max_size=80)
# Latin text with one character from the edge of the UCS-2 fast path, or a few marks.
one_odd_character = st.builds(
    lambda head, odd, tail: head + odd + tail,
    latin,
    st.sampled_from(EDGE + COMBINING + EMOJI),
    latin,
)
with_marks = st.text(st.sampled_from(["a", "e", "ã", " ", *COMBINING]), max_size=150)
texts_near_the_edges = st.one_of(
    st.lists(st.one_of(gsm_pieces), max_size=6).map("".join),
    one_odd_character,
    with_marks,
    st.lists(
        st.one_of(
            run,
            *gsm_pieces,
            latin,
            one_odd_character,
            st.text(st.sampled_from(LATIN_1), max_size=80),
            st.lists(st.sampled_from(ANY_PIECE), max_size=40).map("".join),
            st.text(max_size=20),
            st.sampled_from(PORTUGUESE),
        ),
        max_size=6,
    ).map("".join),
)


def assert_same_report(fast: SegmentReport, exact: SegmentReport) -> None:
    assert type(fast) is SegmentReport
    assert vars(fast) == vars(exact)  # every field, parts included
    assert fast == exact
    assert fast.to_dict() == exact.to_dict()


@settings(max_examples=2000, deadline=None)
@given(texts_near_the_edges)
def test_analyze_gives_what_the_exact_path_gives(text: str) -> None:
    assert_same_report(analyze(text), _analyze_exact(text))
    assert split_parts(text) == _split_parts_exact(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            texts_near_the_edges,
            st.sampled_from(list(LOOK_ALIKES)),
            st.sampled_from(["Don’t miss it ", "“Oi” ", "…" * 30, "ＳＡＬＥ"]),
        ),
        max_size=4,
    ).map("".join)
)
def test_smart_analyze_gives_what_the_exact_path_gives(text: str) -> None:
    assert_same_report(analyze(text, smart=True), _analyze_exact(text, smart=True))


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 400),
    st.lists(st.tuples(st.integers(0, 400), st.sampled_from([char for _, char in EXTENSION]))),
)
def test_escape_pairs_anywhere_in_a_long_text_split_as_on_the_exact_path(
    size: int, escapes: list[tuple[int, str]]
) -> None:
    chars = list("a" * size)
    for position, char in escapes:
        chars.insert(min(position, len(chars)), char)
    text = "".join(chars)
    assert_same_report(analyze(text), _analyze_exact(text))
    assert split_parts(text) == _split_parts_exact(text)


@pytest.mark.parametrize("filler", range(148, 156))
@pytest.mark.parametrize("tail", [1, 150, 153, 160, 306])
def test_escape_pairs_around_part_boundaries_split_as_on_the_exact_path(
    filler: int, tail: int
) -> None:
    text = "a" * filler + "€" + "]" * 3 + "b" * tail + "^" + "c" * 151 + "|"
    assert_same_report(analyze(text), _analyze_exact(text))
    assert split_parts(text) == _split_parts_exact(text)


@pytest.mark.parametrize(
    "text",
    [
        "Acme: Hi Noah, 20% off with LFXCTN at https://go.acme.com/l/PELcjuCO. Reply STOP",
        "Preço especial: 10€ {hoje} [só] " * 8,  # GSM-7 extension characters, several parts
        "Olá, João! Promoção de verão: 50% de desconto até amanhã. " * 3,
        "¡Hola, Begoña! Último día: 2×1 en toda la tienda, señor Martín. " * 3,
        "“Oferta” – só hoje… Ação válida até 31/12.\r\nResponda SAIR",
        "Привет, Ольга! Скидка 20% только сегодня.",
        "Xin chào! Giảm giá đặc biệt hôm nay.",  # Vietnamese, precomposed
        "本日限定セール！全品２０％オフ。",
    ],
)
def test_common_texts_take_a_fast_path(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _analyze_exact(text)

    def refuse(*args: object) -> None:
        raise AssertionError(f"took the exact path: {text!r}")

    monkeypatch.setattr(encoding, "_report_exact", refuse)
    monkeypatch.setattr(encoding, "_split_parts_exact", refuse)
    assert_same_report(analyze(text), expected)
    assert split_parts(text) == (expected.encoding, list(expected.parts))


def simple_ucs2_characters() -> list[str]:
    return [chr(code) for low, high in SIMPLE_UCS2_RANGES for code in range(low, high + 1)]


def test_simple_ucs2_ranges_are_sorted_apart_and_in_the_bmp_without_surrogates() -> None:
    assert all(low <= high for low, high in SIMPLE_UCS2_RANGES)
    assert all(high + 1 < low for (_, high), (low, _) in pairwise(SIMPLE_UCS2_RANGES))
    assert SIMPLE_UCS2_RANGES[-1][1] <= 0xFFFF
    assert not any(0xD800 <= code <= 0xDFFF for code in map(ord, simple_ucs2_characters()))


def test_simple_ucs2_characters_have_a_grapheme_class_no_rule_joins() -> None:
    """Other, Control, CR or LF: only CR LF stay together (GB3); the rules that join other
    characters all need an Extend, ZWJ, SpacingMark, Prepend, regional indicator, Hangul
    jamo or syllable, or an Indic conjunct class, which these characters do not have."""
    own = regex.compile(
        r"[\p{Grapheme_Cluster_Break=Other}\p{Grapheme_Cluster_Break=Control}"
        r"\p{Grapheme_Cluster_Break=CR}\p{Grapheme_Cluster_Break=LF}]"
    )
    no_conjunct = regex.compile(r"\p{InCB=None}")
    for char in simple_ucs2_characters():
        assert own.fullmatch(char), f"U+{ord(char):04X}"
        assert no_conjunct.fullmatch(char), f"U+{ord(char):04X}"


def test_simple_ucs2_characters_are_each_one_grapheme_cluster_beside_the_others() -> None:
    chars = simple_ucs2_characters()
    orders = [chars, chars[::-1]]
    for seed in range(3):
        shuffled = chars.copy()
        random.Random(seed).shuffle(shuffled)
        orders.append(shuffled)
    for order in orders:
        text = "".join(order)
        assert grapheme_clusters(text) == order
    # Each beside itself and beside a letter, a control, CR, LF and a pictograph.
    for neighbour in ["", "a", "\x00", "\r", "\n", "©"]:
        text = "".join(neighbour + char + char for char in chars) + neighbour
        assert grapheme_clusters(text) == list(text)


def test_the_gsm_alphabet_is_all_simple_ucs2() -> None:
    """The UCS-2 fast path takes the GSM-7 characters before the first other one as read."""
    simple = set(simple_ucs2_characters())
    assert set(GSM_CHARS) <= simple


# Wire encoders


def test_gsm7_packing_matches_the_classic_hellohello_vector() -> None:
    assert pack_septets(gsm7_septets("hellohello")).hex().upper() == "E8329BFD4697D9EC37"


def test_gsm7_septets_refuses_non_gsm_text_and_names_the_characters() -> None:
    with pytest.raises(NotGsm7Encodable) as raised:
        gsm7_septets("Promoção ção")
    assert raised.value.characters == ["ç", "ã"]
    assert isinstance(raised.value, ValueError)


def test_ucs2_bytes_are_utf16_big_endian_with_surrogate_pairs() -> None:
    assert ucs2_bytes("ã😀") == b"\x00\xe3\xd8\x3d\xde\x00"


def test_unpacking_needs_the_septet_count_to_tell_padding_from_an_at_sign() -> None:
    packed = pack_septets(gsm7_septets("1234567"))  # 49 bits: 7 octets, 7 bits of padding
    assert len(packed) == 7
    assert decode_gsm7_septets(unpack_septets(packed, 7)) == "1234567"
    assert decode_gsm7_septets(unpack_septets(packed, 8)) == "1234567@"


def test_decoding_an_unknown_escape_reads_the_basic_character() -> None:
    assert decode_gsm7_septets(bytes([ESCAPE, 0x41])) == "A"


def test_decoding_a_doubled_or_trailing_escape_reads_a_space() -> None:
    assert decode_gsm7_septets(bytes([ESCAPE, ESCAPE, 0x41, ESCAPE])) == " A "


def test_septets_are_seven_bit_values() -> None:
    with pytest.raises(ValueError):
        pack_septets(b"\x80")
    with pytest.raises(ValueError):
        decode_gsm7_septets(b"\x80")


def test_unpacking_more_septets_than_the_data_holds_is_refused() -> None:
    with pytest.raises(ValueError):
        unpack_septets(b"\x00" * 7, 9)


@given(gsm_text)
def test_gsm7_septets_round_trip(text: str) -> None:
    assert decode_gsm7_septets(gsm7_septets(text)) == text


@given(septets)
def test_packing_round_trips_and_takes_seven_eighths_of_the_octets(data: bytes) -> None:
    packed = pack_septets(data)
    assert len(packed) == (7 * len(data) + 7) // 8
    assert unpack_septets(packed, len(data)) == data


@given(gsm_text)
def test_packed_gsm_text_round_trips(text: str) -> None:
    data = gsm7_septets(text)
    assert decode_gsm7_septets(unpack_septets(pack_septets(data), len(data))) == text


@given(st.text())
def test_ucs2_bytes_round_trip(text: str) -> None:
    assert ucs2_bytes(text).decode("utf-16-be") == text
