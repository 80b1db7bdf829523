"""SMS encoding: whether a text travels as GSM-7 or UCS-2, and how it splits into parts.

A text is GSM-7 when every character is in the GSM 03.38 default alphabet or its extension
table, UCS-2 otherwise. One part holds 160 septets or 70 UTF-16 code units; a longer text
is sent as parts of 153 septets or 67 code units, the rest of each part carrying the
concatenation header. A part boundary never splits an escape pair, a surrogate pair or a
user-perceived character, so what the preview shows is what `split_parts` puts on the wire.

Most texts (GSM-7, or UCS-2 in Latin, Greek, Cyrillic or CJK letters without combining
marks or emoji) take a fast path without a per-character Python loop; the others take the
exact path, `_analyze_exact`, which the tests hold the fast path to, field for field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

import regex

Encoding = Literal["GSM-7", "UCS-2"]

SINGLE_PART_CAPACITY: dict[Encoding, int] = {"GSM-7": 160, "UCS-2": 70}
MULTI_PART_CAPACITY: dict[Encoding, int] = {"GSM-7": 153, "UCS-2": 67}

ESCAPE = 0x1B

# GSM 03.38 default alphabet, indexed by septet value. 0x09 is capital Ç: lowercase ç is not
# in the alphabet and handsets would show the capital, so a text with ç goes UCS-2 to keep
# the right letter. Position 0x1B is the escape to the extension table.
BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# Extension table: each of these costs two septets, ESCAPE then the code.
EXTENSION_TABLE: dict[int, str] = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_SEPTETS: dict[str, bytes] = {
    **{char: bytes([code]) for code, char in enumerate(BASIC_TABLE) if code != ESCAPE},
    **{char: bytes([ESCAPE, code]) for code, char in EXTENSION_TABLE.items()},
}

# Smart encoding: look-alikes a reader would not tell apart, each with its GSM-7 spelling.
# Letters are never rewritten (ã is not a), only punctuation, spacing and invisible marks.
LOOK_ALIKES: dict[str, str] = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4\u0060\u02bc", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    "\u2026": "...",
    **dict.fromkeys("\t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007", " "),
    **dict.fromkeys("\u2008\u2009\u200a\u202f\u205f\u3000", " "),
    **dict.fromkeys("\u2028\u2029", "\n"),
    # Invisible: zero-width space, non-joiner, joiner, word joiner, byte order mark, soft hyphen.
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
    # Full-width forms U+FF01..U+FF5E sit 0xFEE0 above their ASCII letter.
    **{chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)},
    "\uff40": "'",  # full-width grave accent: the ASCII backtick is not GSM-7 either
}

_GRAPHEME = regex.compile(r"\X")


def _char_class(chars: Iterable[str] = (), ranges: Iterable[tuple[int, int]] = ()) -> str:
    """The inside of a regular expression character class, every character escaped."""
    spans = [(ord(char), ord(char)) for char in chars] + list(ranges)
    return "".join(
        f"\\U{low:08x}" if low == high else f"\\U{low:08x}-\\U{high:08x}" for low, high in spans
    )


# Fast paths. Most texts are all GSM-7 basic characters (one septet each), or all characters
# that are each one UTF-16 code unit and a user-perceived character of their own: their parts
# are plain slices, with no per-character Python loop. Other texts take the exact path.
_GSM_BASIC = "".join(char for code, char in enumerate(BASIC_TABLE) if code != ESCAPE)
_GSM_EXTENSION = "".join(EXTENSION_TABLE.values())
# A run of `[...]*` is matched in one tight loop, faster than searching for `[^...]`.
_GSM_BASIC_RUN = re.compile(f"[{_char_class(_GSM_BASIC)}]*")
_NOT_GSM = re.compile(f"[^{_char_class(_GSM_BASIC + _GSM_EXTENSION)}]")
_GSM_EXTENSION_CHAR = re.compile(f"[{_char_class(_GSM_EXTENSION)}]")
_GSM7_SINGLE, _GSM7_MULTI = SINGLE_PART_CAPACITY["GSM-7"], MULTI_PART_CAPACITY["GSM-7"]
_UCS2_SINGLE, _UCS2_MULTI = SINGLE_PART_CAPACITY["UCS-2"], MULTI_PART_CAPACITY["UCS-2"]

# SIMPLE_UCS2: BMP characters whose Grapheme_Cluster_Break is Other, Control, CR or LF, in
# the Latin, Greek, Cyrillic, punctuation and symbol, CJK and full-width blocks. The marks,
# joiners and variation selectors of those blocks are left out; surrogates, Hangul jamo and
# syllables, regional indicators, prepended marks and Indic scripts are in none of them. No
# grapheme rule joins two such characters, CR LF aside, which `grapheme_clusters` splits
# anyway: in a text made only of them, each is one UTF-16 unit and one cluster.
# tests/domain/test_encoding.py checks the ranges against the `regex` package's Unicode data
# and its \X, so an update of the package that reclassifies one of them fails there.
SIMPLE_UCS2_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x02FF),  # Latin-1, Latin Extended-A and -B, IPA, spacing modifiers (not U+03xx)
    (0x0370, 0x0482),  # Greek and Coptic, Cyrillic (not U+0483..U+0489: marks)
    (0x048A, 0x052F),  # Cyrillic, Cyrillic Supplement
    (0x1E00, 0x200B),  # Latin Extended Additional (precomposed Vietnamese), Greek Extended,
    # spaces, the zero-width space (not U+200C, U+200D: the non-joiner and the joiner)
    (0x200E, 0x20CF),  # punctuation, super- and subscripts, currency symbols
    (0x20F1, 0x2BFF),  # (not U+20D0..U+20F0: marks, the keycap) letterlike, arrows, math,
    # technical, shapes, symbols, dingbats
    (0x3000, 0x3029),  # CJK symbols and punctuation (not U+302A..U+302F: tone marks)
    (0x3030, 0x3098),  # Hiragana (not U+3099, U+309A: voicing marks)
    (0x309B, 0x30FF),  # Katakana
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xFF00, 0xFF9D),  # full-width forms, half-width Katakana (not U+FF9E, U+FF9F: marks)
    (0xFFA0, 0xFFEF),  # half-width Hangul letters and forms
)
_SIMPLE_UCS2_RUN = re.compile(f"[{_char_class(ranges=SIMPLE_UCS2_RANGES)}]*")


class NotGsm7Encodable(ValueError):
    """The text has characters outside the GSM 03.38 alphabet and its extension table."""

    def __init__(self, characters: list[str]) -> None:
        super().__init__(f"not encodable in GSM-7: {''.join(characters)!r}")
        self.characters = characters


@dataclass(frozen=True)
class Replacement:
    """One look-alike that smart encoding rewrote, and how many times."""

    char: str
    replaced_by: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.char, "to": self.replaced_by, "count": self.count}


@dataclass(frozen=True)
class SegmentReport:
    """What sending `text` costs. Every field describes `text`, after smart encoding if any.

    `segments` is the number of parts; an empty text is one (empty) part, as Twilio's
    calculator counts it. `characters` counts what the reader sees, except that in GSM-7 an
    extension character counts two, as it costs two septets (Twilio's numberOfCharacters).
    `code_units` is septets (escapes included) for GSM-7 and UTF-16 code units for UCS-2.
    `non_gsm` lists, once each in order of appearance, the characters that forced UCS-2.
    """

    encoding: Encoding
    segments: int
    characters: int
    code_units: int
    non_gsm: tuple[str, ...]
    parts: tuple[str, ...]
    text: str
    smart: bool = False
    replacements: tuple[Replacement, ...] = ()
    segments_saved: int = 0

    def to_dict(self) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "encoding": self.encoding,
            "segments": self.segments,
            "characters": self.characters,
            "code_units": self.code_units,
            "non_gsm": list(self.non_gsm),
            "parts": list(self.parts),
        }
        if self.smart:
            shape["smart"] = {
                "replacements": [r.to_dict() for r in self.replacements],
                "segments_saved": self.segments_saved,
                "text": self.text,
            }
        return shape


def analyze(text: str, *, smart: bool = False) -> SegmentReport:
    """Encoding, part count and part texts of `text`.

    With `smart`, look-alike punctuation and invisible characters are rewritten to GSM-7, but
    only when that makes the whole text GSM-7 without adding parts. Otherwise the text is
    left as written: in UCS-2 the rewrite saves nothing ("…" as "..." even costs two units),
    and a text with an emoji stays UCS-2, so the joiners inside the emoji are never stripped.
    """
    if not smart:
        return _report(text, False, ())
    return _smart(text, _report)


def split_parts(text: str) -> tuple[Encoding, list[str]]:
    """The encoding of `text` and the texts of the parts it is sent as."""
    fast = _fast_shape(text)
    if fast is None:
        return _split_parts_exact(text)
    return fast[0], list(fast[3])


def grapheme_clusters(text: str) -> list[str]:
    """The characters a reader sees (Unicode extended grapheme clusters).

    CR LF counts as two, as it costs two septets and as Twilio's calculator counts it.
    """
    clusters = _GRAPHEME.findall(text)
    return [piece for cluster in clusters for piece in _split_crlf(cluster)]


def gsm7_septets(text: str) -> bytes:
    """Unpacked GSM 03.38: one byte per septet, escapes included."""
    try:
        return b"".join(_SEPTETS[char] for char in text)
    except KeyError:
        raise NotGsm7Encodable(_distinct(c for c in text if c not in _SEPTETS)) from None


def decode_gsm7_septets(data: bytes) -> str:
    """Text of unpacked GSM 03.38 septets, as a handset reads them.

    An escape before a code the extension table lacks reads as the basic character and a
    doubled escape as a space (3GPP TS 23.038); a trailing escape, extending nothing, too.
    """
    chars: list[str] = []
    escaped = False
    for septet in data:
        if septet > 0x7F:
            raise ValueError(f"{septet:#04x} is not a septet")
        if escaped:
            if septet == ESCAPE:
                chars.append(" ")
            else:
                chars.append(EXTENSION_TABLE.get(septet, BASIC_TABLE[septet]))
            escaped = False
        elif septet == ESCAPE:
            escaped = True
        else:
            chars.append(BASIC_TABLE[septet])
    if escaped:
        chars.append(" ")
    return "".join(chars)


def pack_septets(septets: bytes) -> bytes:
    """GSM 03.38 packing: septets laid end to end, least significant bit first."""
    if any(septet > 0x7F for septet in septets):
        raise ValueError("septets are 7-bit values")
    value = sum(septet << (7 * i) for i, septet in enumerate(septets))
    return value.to_bytes((7 * len(septets) + 7) // 8, "little")


def unpack_septets(data: bytes, count: int) -> bytes:
    """The first `count` septets of packed GSM 03.38 data.

    The count comes from the message's user data length: it is not in the data, since the
    padding of the last octet would otherwise read as a trailing '@'.
    """
    if not 0 <= count <= len(data) * 8 // 7:
        raise ValueError(f"{len(data)} octets cannot hold {count} septets")
    value = int.from_bytes(data, "little")
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))


def ucs2_bytes(text: str) -> bytes:
    """UTF-16-BE, which handsets accept as UCS-2: astral characters go as surrogate pairs."""
    return text.encode("utf-16-be", "surrogatepass")


def _encoding_of(text: str) -> Encoding:
    """GSM-7 when every character is in the GSM 03.38 tables, else UCS-2."""
    return "GSM-7" if all(char in _SEPTETS for char in text) else "UCS-2"


def _smart(
    text: str, report: Callable[[str, bool, tuple[Replacement, ...]], SegmentReport]
) -> SegmentReport:
    """Smart encoding (see `analyze`), counting with `report`."""
    as_written = report(text, True, ())
    if as_written.encoding == "GSM-7":
        return as_written
    rewritten, replacements = _replace_look_alikes(text)
    candidate = report(rewritten, True, replacements)
    if candidate.encoding == "GSM-7" and candidate.segments <= as_written.segments:
        return replace(candidate, segments_saved=as_written.segments - candidate.segments)
    return as_written


def _report(text: str, smart: bool, replacements: tuple[Replacement, ...]) -> SegmentReport:
    """What `_report_exact` answers, without its per-character loops when the text allows."""
    fast = _fast_shape(text)
    if fast is None:
        return _report_exact(text, smart, replacements)
    encoding, code_units, non_gsm, parts = fast
    # The frozen dataclass's __init__ sets its ten fields one object.__setattr__ at a time,
    # which costs as much as the rest of the fast path: fill the instance's dict at once.
    report: SegmentReport = object.__new__(SegmentReport)
    report.__dict__.update(
        encoding=encoding,
        segments=len(parts),
        characters=code_units,
        code_units=code_units,
        non_gsm=non_gsm,
        parts=parts,
        text=text,
        smart=smart,
        replacements=replacements,
        segments_saved=0,
    )
    return report


def _fast_shape(
    text: str,
) -> tuple[Encoding, int, tuple[str, ...], tuple[str, ...]] | None:
    """(encoding, code units, non-GSM characters, parts) of `text`, or None: the exact path.

    Two kinds of text take no per-character Python loop. GSM-7 text, where a code unit is a
    septet and counts as a character (an extension character two). And UCS-2 text whose
    every character is in SIMPLE_UCS2: one UTF-16 unit and a grapheme cluster of its own,
    so its code units, characters and clusters are its code points and its parts are slices.
    """
    basic = _GSM_BASIC_RUN.match(text)
    start = basic.end() if basic else 0  # `[...]*` matches any text: `basic` is never None
    if start == len(text):
        return "GSM-7", start, (), _slices(text, _GSM7_SINGLE, _GSM7_MULTI)
    # Before `start` the text is GSM-7 basic, all of it in SIMPLE_UCS2.
    if _SIMPLE_UCS2_RUN.fullmatch(text, start) is None:
        return None
    non_gsm = _NOT_GSM.findall(text, start)
    if non_gsm:
        parts = _slices(text, _UCS2_SINGLE, _UCS2_MULTI)
        return "UCS-2", len(text), tuple(dict.fromkeys(non_gsm)), parts
    septets = len(text) + len(_GSM_EXTENSION_CHAR.findall(text, start))
    if septets <= _GSM7_SINGLE:
        return "GSM-7", septets, (), (text,)
    return "GSM-7", septets, (), _pack_gsm7(text, _GSM7_MULTI)


def _slices(text: str, single: int, multi: int) -> tuple[str, ...]:
    """Parts of a text whose every character costs one unit."""
    size = len(text)
    if size <= single:
        return (text,)
    if size <= 2 * multi:
        return (text[:multi], text[multi:])
    return tuple([text[start : start + multi] for start in range(0, size, multi)])


def _pack_gsm7(text: str, capacity: int) -> tuple[str, ...]:
    """What `_pack` makes of GSM-7 text, visiting only its extension characters.

    Basic characters cost one septet, extension characters two. Parts are filled greedily:
    an extension character that would leave its part a septet short starts the next part.
    """
    escapes = [match.start() for match in _GSM_EXTENSION_CHAR.finditer(text)]
    escapes.append(len(text))  # a sentinel: the basic characters after the last escape
    parts: list[str] = []
    start = taken = 0  # where the part starts; how many escapes the parts before it took
    while start < len(text):
        end, room = start, capacity
        while True:
            nearest = escapes[taken]
            if nearest - end >= room:  # the room runs out among basic characters
                end += room
                break
            room -= nearest - end
            end = nearest
            if end == len(text) or room < 2:
                break
            end, room, taken = end + 1, room - 2, taken + 1
        parts.append(text[start:end])
        start = end
    return tuple(parts)


def _analyze_exact(text: str, *, smart: bool = False) -> SegmentReport:
    """`analyze` character by character and cluster by cluster, with no fast path.

    The reference the fast paths are tested against.
    """
    if not smart:
        return _report_exact(text, False, ())
    return _smart(text, _report_exact)


def _split_parts_exact(text: str) -> tuple[Encoding, list[str]]:
    """`split_parts` character by character and cluster by cluster, with no fast path."""
    encoding = _encoding_of(text)
    units = _units(text, encoding)
    if sum(cost for _, cost in units) <= SINGLE_PART_CAPACITY[encoding]:
        return encoding, [text]
    return encoding, _pack(units, MULTI_PART_CAPACITY[encoding])


def _report_exact(text: str, smart: bool, replacements: tuple[Replacement, ...]) -> SegmentReport:
    encoding, parts = _split_parts_exact(text)
    non_gsm: tuple[str, ...] = ()
    if encoding == "GSM-7":
        code_units = characters = len(gsm7_septets(text))
    else:
        clusters = grapheme_clusters(text)
        code_units = _utf16_length(text)
        characters = len(clusters)
        non_gsm = tuple(_distinct(c for c in clusters if _encoding_of(c) == "UCS-2"))
    return SegmentReport(
        encoding=encoding,
        segments=len(parts),
        characters=characters,
        code_units=code_units,
        non_gsm=non_gsm,
        parts=tuple(parts),
        text=text,
        smart=smart,
        replacements=replacements,
    )


def _units(text: str, encoding: Encoding) -> list[tuple[str, int]]:
    """The pieces a part boundary may fall between, with what each costs."""
    if encoding == "GSM-7":
        return [(char, len(_SEPTETS[char])) for char in text]
    return [(cluster, _utf16_length(cluster)) for cluster in grapheme_clusters(text)]


def _pack(units: list[tuple[str, int]], capacity: int) -> list[str]:
    """Fill parts greedily, a whole unit at a time.

    A UCS-2 cluster longer than a whole part (a letter under dozens of combining marks)
    cannot stay whole, so it alone is split between code points.
    """
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for piece, cost in units:
        if cost > capacity:
            pieces = [(char, _utf16_length(char)) for char in piece]
        else:
            pieces = [(piece, cost)]
        for chunk, chunk_cost in pieces:
            if used + chunk_cost > capacity:
                parts.append("".join(current))
                current, used = [], 0
            current.append(chunk)
            used += chunk_cost
    parts.append("".join(current))
    return parts


def _replace_look_alikes(text: str) -> tuple[str, tuple[Replacement, ...]]:
    counts: dict[str, int] = {}
    for char in text:
        if char in LOOK_ALIKES:
            counts[char] = counts.get(char, 0) + 1
    rewritten = "".join(LOOK_ALIKES.get(char, char) for char in text)
    found = tuple(Replacement(char, LOOK_ALIKES[char], n) for char, n in counts.items())
    return rewritten, found


def _split_crlf(cluster: str) -> list[str]:
    return ["\r", "\n"] if cluster == "\r\n" else [cluster]


def _utf16_length(text: str) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def _distinct(chars: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(chars))
