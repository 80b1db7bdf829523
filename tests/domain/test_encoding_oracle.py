"""Recado's encoding against an independent oracle: Twilio's segment calculator (npm
`sms-segments-calculator`, pinned in tests/oracle/package.json), run as one node process.

Encoding, part count, character count and the non-GSM characters must agree, except where
a difference is documented in KNOWN_DIFFERENCES. Lowercase ç needs no entry: the oracle
also sends it as UCS-2. Every documented difference has one of three causes:

- the oracle clusters characters with grapheme-splitter 1.0.4, which implements the
  Unicode 10 (2017) rules; Recado uses the current rules (the `regex` package's \\X);
- grapheme-splitter has one bug, around flags followed by marks;
- the oracle never splits a character, even one longer than a part.

A text is excused only by the cause that applies to it: each boundary where the two
clusterings disagree must match one documented kind, and then the oracle's counts must be
exactly what its own clusters give, so nothing else can hide behind the excuse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import event, given, settings
from hypothesis import strategies as st

from recado.domain.encoding import (
    BASIC_TABLE,
    ESCAPE,
    EXTENSION_TABLE,
    SegmentReport,
    analyze,
    grapheme_clusters,
)

ORACLE = Path(__file__).resolve().parents[1] / "oracle"
EXAMPLES = 600  # per strategy; all share one node process

KNOWN_DIFFERENCES = {
    "skin_tone_after_any_character": (
        "Since Unicode 11 a skin-tone modifier extends whatever precedes it. The oracle keeps "
        "it only with a base on its Unicode 10 list, so it counts 🏽 as a character of its own "
        "and may send it in the next part."
    ),
    "emoji_zwj_sequence": (
        "Since Unicode 11 a zero-width joiner joins two pictographs (🧑‍🤝‍🧑, ❤️‍🔥, 🐕‍🦺). "
        "The oracle joins only the pairs on its Unicode 10 list, so it counts such an emoji "
        "as several characters and can split it across parts, where handsets show the pieces; "
        "and it still glues a joiner after a letter to a heart, which Unicode no longer does."
    ),
    "indic_conjunct": (
        "Since Unicode 15.1 a consonant, virama and consonant (क्ष) are one character; the "
        "oracle counts two and can split the conjunct across parts."
    ),
    "character_reclassified_since_unicode_10": (
        "A character whose grapheme class changed after the oracle's Unicode 10 tables: marks "
        "added since belong to their letter (U+1E131 to the one before, U+0890 to the one "
        "after), and the Vedic sign U+1CF3, a mark in Unicode 10, is a letter of its own now. "
        "The oracle asked about the character alone must show the same change."
    ),
    "marks_after_a_flag": (
        "The oracle (a bug in grapheme-splitter 1.0.4) breaks before the second mark after a "
        "flag, as in 🇧🇷 + variation selector + joiner; no version of Unicode breaks before a "
        "mark or a joiner."
    ),
    "character_longer_than_a_part": (
        "A character of more than 67 UTF-16 units (a letter under dozens of marks) cannot fit "
        "one part of a long UCS-2 message. The oracle overfills the part, which no carrier "
        "accepts; Recado splits that one character between code points."
    ),
}

_EMOJI_MODIFIER = regex.compile(r"\p{Emoji_Modifier}")
_CONJUNCT_BEFORE = regex.compile(
    r"\p{InCB=Consonant}[\p{InCB=Extend}\p{InCB=Linker}]*"
    r"\p{InCB=Linker}[\p{InCB=Extend}\p{InCB=Linker}]*$"
)
_CONSONANT = regex.compile(r"\p{InCB=Consonant}")
_FLAG_AND_MARKS_BEFORE = regex.compile(
    r"(?:^|\P{Regional_Indicator})(?:\p{Regional_Indicator}{2})+"
    r"[\p{Grapheme_Cluster_Break=Extend}\p{Grapheme_Cluster_Break=ZWJ}"
    r"\p{Grapheme_Cluster_Break=SpacingMark}]+$"
)
ZWJ = "\u200d"


class Oracle:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def ask(self, text: str) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(text) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the oracle process stopped answering"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def joins(self, pair: str) -> bool:
        """Whether the oracle keeps two code points together as one character."""
        return len(self.ask(pair)["graphemes"]) == 1


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    node = shutil.which("node")
    if node is None or not (ORACLE / "node_modules" / "sms-segments-calculator").is_dir():
        missing = "node" if node is None else "the oracle's node_modules"
        message = f"{missing} is missing: run `make test` (it runs npm ci --prefix tests/oracle)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    process = subprocess.Popen(
        [node, str(ORACLE / "segments.js")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    yield Oracle(process)
    assert process.stdin
    process.stdin.close()
    process.wait(timeout=10)


def boundaries(clusters: list[str]) -> set[int]:
    ends, offset = set(), 0
    for cluster in clusters:
        offset += len(cluster)
        ends.add(offset)
    return ends


def kind_of_disagreement(
    oracle: Oracle, text: str, boundary: int, oracle_breaks: bool
) -> str | None:
    """Which documented difference explains one boundary the two clusterings disagree on."""
    before, after = text[boundary - 1], text[boundary]
    if _EMOJI_MODIFIER.match(after):
        return "skin_tone_after_any_character"
    if before == ZWJ:
        return "emoji_zwj_sequence"
    if oracle_breaks and _FLAG_AND_MARKS_BEFORE.search(text[:boundary]):
        return "marks_after_a_flag"
    if oracle_breaks and _CONSONANT.match(after) and _CONJUNCT_BEFORE.search(text[:boundary]):
        return "indic_conjunct"
    if reclassified(oracle, before, after):
        return "character_reclassified_since_unicode_10"
    return None


def reclassified(oracle: Oracle, before: str, after: str) -> bool:
    """Whether the oracle and current Unicode disagree on `after` joining the character before
    it, or on `before` joining the one after it, asked of each alone beside a plain letter."""
    pairs = ["a" + after, before + "a"]
    return any(oracle.joins(pair) != (len(grapheme_clusters(pair)) == 1) for pair in pairs)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def ucs2_parts_needed(clusters: list[str]) -> int:
    """Parts for UCS-2 text filled whole character by whole character, as both sides do."""
    if sum(utf16_units(c) for c in clusters) <= 70:
        return 1
    parts, used = 1, 0
    for cost in (utf16_units(c) for c in clusters):
        if used + cost > 67:
            parts, used = parts + 1, 0
        used += cost
    return parts


def documented_differences(
    oracle: Oracle, text: str, ours: SegmentReport, theirs: dict[str, Any]
) -> set[str]:
    """The KNOWN_DIFFERENCES that apply to `text`; fails on a disagreement none explains."""
    found = set()
    our_clusters, their_clusters = grapheme_clusters(text), theirs["graphemes"]
    our_ends, their_ends = boundaries(our_clusters), boundaries(their_clusters)
    for boundary in sorted(our_ends ^ their_ends):
        kind = kind_of_disagreement(oracle, text, boundary, boundary in their_ends)
        assert kind, f"undocumented clustering difference at {boundary} in {text!r}"
        found.add(kind)
    long_message = ours.encoding == "UCS-2" and ours.code_units > 70
    if long_message and any(utf16_units(c) > 67 for c in our_clusters + their_clusters):
        found.add("character_longer_than_a_part")
    if found and ours.encoding == "UCS-2":
        # The oracle's counts must follow from its own clusters alone.
        assert theirs["characters"] == len(their_clusters)
        if "character_longer_than_a_part" not in found:
            assert theirs["segments"] == ucs2_parts_needed(their_clusters)
            assert ours.segments == ucs2_parts_needed(our_clusters)
    return found


def agrees_with_oracle(oracle: Oracle, text: str) -> None:
    ours = analyze(text)
    theirs = oracle.ask(text)
    assert ours.encoding == theirs["encoding"], text
    excused = documented_differences(oracle, text, ours, theirs)
    for kind in sorted(excused):
        event(f"documented difference: {kind}")
    if not excused:
        assert (ours.segments, ours.characters, list(ours.non_gsm)) == (
            theirs["segments"],
            theirs["characters"],
            theirs["non_gsm"],
        ), text


# Strategies. Each text starts with a run of filler, so what follows lands on every side of
# the 70/67 and 160/153 boundaries.

GSM_BASIC = [char for code, char in enumerate(BASIC_TABLE) if code != ESCAPE]
GSM_EXTENSION = list(EXTENSION_TABLE.values())

# People who take a skin tone, and pictographs that do not; the oracle knows the first kind.
PEOPLE = list("👍👋👨👩👧👦🧑🧔🏃💪")
PICTOGRAPHS = ["😀", "☺\ufe0f", "❤\ufe0f", "🔥", "🌈", "🏳\ufe0f", "🐕", "🦺", "🤝", "🫶", "🩷"]
SKIN_TONES = [chr(code) for code in range(0x1F3FB, 0x1F400)]
REGIONAL_INDICATORS = [chr(code) for code in range(0x1F1E6, 0x1F200)]
PORTUGUESE = [
    "Olá, João! Promoção de verão: 50% de desconto até amanhã.",
    "Você já viu? Ações para o coração da família, só hoje em São Paulo.",
    "Peça o seu cartão de crédito grátis. Ótimo negócio, não perca!",
    "ÚLTIMOS DIAS: frete grátis para Brasília. Às 18h a loja fecha.",
    "Avô, avó e três netos no pôr-do-sol; Ç e ç não são iguais. R$ 20,00",
]
PORTUGUESE_WORDS = [word for sentence in PORTUGUESE for word in sentence.split()]

filler = st.builds(
    lambda char, count: char * count, st.sampled_from(["a", "ã"]), st.integers(0, 170)
)


def after_filler(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda head, tail: head + tail, filler, text)


gsm_basic_text = st.text(st.sampled_from(GSM_BASIC), max_size=200)
gsm_extension_text = st.text(
    st.one_of(st.sampled_from(GSM_EXTENSION), st.sampled_from(GSM_BASIC)), max_size=200
)
# One or two of each kind that the clustering rules treat apart: Hangul jamo and syllables,
# prepended and spacing marks, controls, Devanagari consonants and virama, joiners.
CLUSTERING_SAMPLES = list(
    "\u1100\u1161\u11a8\uac00\uac01\u0600\U000110bd\u0903\u0e33\u0301\u200c\uff9e"
    "\x00\u200b\u2028\u00ad\u0915\u094d\u0937\u200d\ufe0f\r\n"
)
unicode_text = st.text(
    st.one_of(st.characters(), st.sampled_from(CLUSTERING_SAMPLES)), max_size=120
)
astral_text = st.text(
    st.one_of(st.characters(min_codepoint=0x10000), st.sampled_from("aã€ ")), max_size=80
)
person = st.builds(
    lambda base, tone: base + tone,
    st.sampled_from(PEOPLE),
    st.one_of(st.just(""), st.sampled_from(SKIN_TONES)),
)
emoji = st.one_of(
    person,
    st.sampled_from(PICTOGRAPHS),
    st.lists(st.one_of(person, st.sampled_from(PICTOGRAPHS)), min_size=2, max_size=4).map(ZWJ.join),
    st.lists(st.sampled_from(REGIONAL_INDICATORS), min_size=1, max_size=5).map("".join),
    st.sampled_from("#*0123456789").map(lambda key: key + "\ufe0f\u20e3"),
    st.sampled_from([ZWJ, "\ufe0f", "\u20e3", " ", "a", "ã", "€", "\r\n", SKIN_TONES[0]]),
)
emoji_text = st.lists(emoji, max_size=10).map("".join)
portuguese_text = st.lists(
    st.one_of(st.sampled_from(PORTUGUESE_WORDS), st.sampled_from(PORTUGUESE), st.just(" ")),
    max_size=20,
).map("".join)


@settings(max_examples=EXAMPLES, deadline=None)
@given(after_filler(gsm_basic_text))
def test_gsm_basic_text_agrees_with_the_oracle(oracle: Oracle, text: str) -> None:
    agrees_with_oracle(oracle, text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(after_filler(gsm_extension_text))
def test_gsm_extension_text_agrees_with_the_oracle(oracle: Oracle, text: str) -> None:
    agrees_with_oracle(oracle, text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(after_filler(unicode_text))
def test_any_unicode_text_agrees_with_the_oracle(oracle: Oracle, text: str) -> None:
    agrees_with_oracle(oracle, text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(after_filler(astral_text))
def test_text_beyond_the_bmp_agrees_with_the_oracle(oracle: Oracle, text: str) -> None:
    agrees_with_oracle(oracle, text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(after_filler(emoji_text))
def test_emoji_text_agrees_with_the_oracle(oracle: Oracle, text: str) -> None:
    agrees_with_oracle(oracle, text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(after_filler(portuguese_text))
def test_portuguese_text_agrees_with_the_oracle(oracle: Oracle, text: str) -> None:
    agrees_with_oracle(oracle, text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ã🏻", "skin_tone_after_any_character"),
        ("🧑\u200d🤝\u200d🧑", "emoji_zwj_sequence"),
        ("a\u200d❤", "emoji_zwj_sequence"),
        ("क्ष", "indic_conjunct"),
        ("F\U0001e131", "character_reclassified_since_unicode_10"),
        ("\u0890F", "character_reclassified_since_unicode_10"),
        ("a\u1cf3", "character_reclassified_since_unicode_10"),
        ("🇧🇷\ufe0f\u200d", "marks_after_a_flag"),
        ("ã" * 60 + "a" + "\u0301" * 80, "character_longer_than_a_part"),
    ],
)
def test_each_documented_difference_still_happens(oracle: Oracle, text: str, kind: str) -> None:
    """When the oracle catches up, its entry in KNOWN_DIFFERENCES should go."""
    ours, theirs = analyze(text), oracle.ask(text)
    assert documented_differences(oracle, text, ours, theirs) == {kind}
    assert (ours.segments, ours.characters) != (theirs["segments"], theirs["characters"])


def test_plain_texts_agree_with_the_oracle_exactly(oracle: Oracle) -> None:
    for text in ["", "a" * 160, "a" * 161, "€" * 80, "€" * 81, "ã" * 70, "ã" * 71, "ç", "Olá!"]:
        agrees_with_oracle(oracle, text)
