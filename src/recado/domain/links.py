"""Tracked short links: finding the URLs in a text, their codes and their short form.

Each http(s) URL of an outgoing text becomes `<base>/l/<code>`, where the base is
`https://<short domain>` when the workspace has one and Recado's own public URL otherwise.
A code names one URL for one recipient of one message, so a click says who clicked.
URLs already on the short link host are left alone, so a text is never shortened twice.
"""

from __future__ import annotations

import functools
import re
import secrets
import string
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Final, NamedTuple
from urllib.parse import urlsplit

CODE_ALPHABET: Final = string.digits + string.ascii_letters  # base62: 0-9, A-Z, a-z
# 62**8 = 218,340,105,584,896 codes (about 2.2e14, 47.6 bits), drawn from the operating
# system's CSPRNG, so no code tells anything about another. With ten million live links a
# blind guess hits some link once in 22 million tries, and a chosen recipient's once in 2e14.
DEFAULT_CODE_LENGTH: Final = 8
MIN_CODE_LENGTH: Final = 8
MAX_CODE_LENGTH: Final = 24  # the width of links.code
LINK_PATH: Final = "/l/"

_CODE_SHAPE: Final = re.compile(f"[0-9A-Za-z]{{{MIN_CODE_LENGTH},{MAX_CODE_LENGTH}}}")

# Random bytes map to base62 by value modulo 62; the 8 values from 248 (= 4 * 62) up are
# dropped, so that each character has exactly four bytes behind it and all are equally likely.
_UNBIASED_LIMIT: Final = 4 * len(CODE_ALPHABET)
_TO_CODE_CHAR: Final = bytes(ord(CODE_ALPHABET[b % len(CODE_ALPHABET)]) for b in range(256))
_BIASED_BYTES: Final = bytes(range(_UNBIASED_LIMIT, 256))

# After "http://" or "https://": the host, then the rest up to what ends a URL in running
# text: a space, an angle bracket, or a quotation mark of English, Portuguese or Spanish
# ("...", «...», “...”). Non-ASCII letters stay ("https://loja.com.br/promoção"): browsers
# send them percent-encoded.
_AFTER_SCHEME: Final = re.compile(r"([^\s<>\"«»“”‘’`/?#]*)[^\s<>\"«»“”‘’`]*")
# Punctuation that ends a sentence rather than a URL: "See https://acme.com/sale."
_TRAILING: Final = frozenset(".,;:!?…'\"*¡¿")
# A closing bracket at the end belongs to the URL only if the URL opened it: "(https://x.com)".
_CLOSERS: Final = {")": "(", "]": "[", "}": "{"}
_ENDINGS: Final = _TRAILING | _CLOSERS.keys()
_ASCII_LETTERS_AND_DIGITS: Final = frozenset(string.ascii_letters + string.digits)
_LETTER_OR_DIGIT: Final = re.compile(r"[^\W_]")


class FoundUrl(NamedTuple):
    """A URL in a text: `text[start:end] == url`."""

    start: int
    end: int
    url: str


def find_urls(text: str, *, skip_base: str | None = None) -> list[FoundUrl]:
    """The http(s) URLs of `text`, in order, without the punctuation around them.

    URLs on the host of `skip_base` (the short link base, see `link_base`) are left out:
    they are short links already, or pages of the link host that need no tracking.
    """
    # Finding "://" first is several times faster than a regex scan of the whole text.
    colon = text.find("://")
    if colon == -1:
        return []
    skip_host = _host_of(skip_base) if skip_base else None
    found: list[FoundUrl] = []
    while colon != -1:
        if text.startswith("https", colon - 5) or text[colon - 5 : colon].lower() == "https":
            start = colon - 5
        elif text.startswith("http", colon - 4) or text[colon - 4 : colon].lower() == "http":
            start = colon - 4
        else:
            start = -1
        # A scheme glued to a word ("xhttps://") is not a link someone meant.
        if start < 0 or (start and text[start - 1] in _ASCII_LETTERS_AND_DIGITS):
            colon = text.find("://", colon + 3)
            continue
        match = _AFTER_SCHEME.match(text, colon + 3)
        assert match is not None  # the pattern accepts an empty string
        end = match.end()
        colon = text.find("://", end)
        if text[end - 1] in _ENDINGS:
            end = start + len(_trim(text[start:end]))
        # Trimming may reach into the host: "https://acme.com." has no path.
        host_end = match.end(1)
        host = text[match.start(1) : host_end if host_end < end else end]
        if "@" in host:
            host = host.rpartition("@")[2]
        if _LETTER_OR_DIGIT.search(host) is None:
            continue
        if skip_host is not None and host.lower() == skip_host:
            continue
        found.append(FoundUrl(start, end, text[start:end]))
    return found


def replace_urls(text: str, mapping: Mapping[FoundUrl, str]) -> str:
    """`text` with each found URL that `mapping` names replaced by its value (a short link).

    Keys are occurrences (from `find_urls` on this same text), so the same URL written twice
    can get two different links.
    """
    if not mapping:
        return text
    pieces: list[str] = []
    position = 0
    for found in sorted(mapping):
        pieces.append(text[position : found.start])
        pieces.append(mapping[found])
        position = found.end
    pieces.append(text[position:])
    return "".join(pieces)


def link_base(short_domain: str | None, base_url: str) -> str:
    """Where short links point: `https://<short_domain>`, or Recado's `base_url` as is."""
    if short_domain:
        return f"https://{short_domain}"
    return base_url.rstrip("/")


def short_url(base: str, code: str) -> str:
    """The short link of `code` under `base` (from `link_base`)."""
    return f"{base}{LINK_PATH}{code}"


def short_url_length(base: str, code_length: int = DEFAULT_CODE_LENGTH) -> int:
    """How many characters each short link under `base` has, before any code exists."""
    return len(base) + len(LINK_PATH) + code_length


def with_placeholder_links(text: str, base: str, code_length: int = DEFAULT_CODE_LENGTH) -> str:
    """`text` as it will read once its URLs are shortened, with a stand-in code.

    Codes are base62, one GSM-7 septet a character, so the encoding and the part count of
    this text are those of the real message: previews and estimates use it.
    """
    placeholder = short_url(base, "x" * code_length)
    return replace_urls(text, dict.fromkeys(find_urls(text, skip_base=base), placeholder))


def new_code(length: int = DEFAULT_CODE_LENGTH) -> str:
    """One random link code of `length` base62 characters."""
    return new_codes(1, length)[0]


def new_codes(count: int, length: int = DEFAULT_CODE_LENGTH) -> list[str]:
    """`count` random link codes, from a single read of the system's random source."""
    _check_length(length)
    text = _random_chars(count * length)
    if count == 1:
        return [text]
    return [text[i : i + length] for i in range(0, count * length, length)]


def code_stream(length: int = DEFAULT_CODE_LENGTH, block: int = 512) -> Iterator[str]:
    """Endless random link codes, read from the system's random source `block` codes at a
    time: for a campaign, where one read per code would cost more than the rest of a link.

    One stream per task: a generator refuses to run in two threads at once, and a stream
    copied into a forked process would repeat its codes (the insert would then redraw them).
    """
    _check_length(length)
    while True:
        text = _random_chars(block * length)
        yield from (text[i : i + length] for i in range(0, block * length, length))


def _check_length(length: int) -> None:
    if not MIN_CODE_LENGTH <= length <= MAX_CODE_LENGTH:
        raise ValueError(f"link codes have {MIN_CODE_LENGTH} to {MAX_CODE_LENGTH} characters")


def _random_chars(needed: int) -> str:
    """`needed` uniformly random base62 characters."""
    # 1 byte in 32 is dropped; asking for 1/8 more almost always needs a single read.
    chars = secrets.token_bytes(needed + needed // 8 + 4).translate(_TO_CODE_CHAR, _BIASED_BYTES)
    while len(chars) < needed:
        chars += secrets.token_bytes(needed).translate(_TO_CODE_CHAR, _BIASED_BYTES)
    return chars[:needed].decode("ascii")


def is_code(value: str) -> bool:
    """Whether `value` has the shape of a link code (checked before any database read)."""
    return _CODE_SHAPE.fullmatch(value) is not None


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        unopened = last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last])
        if last in _TRAILING or unopened:
            url = url[:-1]
        else:
            break
    return url


@functools.lru_cache(maxsize=64)
@lru_cache(maxsize=64)  # one base per campaign, asked once per message
def _host_of(base: str) -> str:
    return (urlsplit(base).netloc.rpartition("@")[2]).lower()
