"""GSM-7 and UCS-2 encoding, part splitting, smart encoding and the wire encoders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recado.domain.encoding import (
    BASIC_TABLE,
    ESCAPE,
    EXTENSION_TABLE,
    LOOK_ALIKES,
    NotGsm7Encodable,
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
