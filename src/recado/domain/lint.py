"""Advice on a message template before it is sent: each finding has a severity, a stable
code, a message and a suggested fix.

Lint reads the template source. Checks of the text (brand, opt-out, links, capitals) look at
the source with the template code taken out; checks of size (parts, UCS-2) look at a
preview rendered with a typical value for every variable (`MessageTemplate.preview`: "Maria"
for first_name, "SAVE20" for a code, a short link for a url...), with the footer added when
it will be, because that is what the carrier will count.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from recado.domain.contact_fields import STANDARD_FIELDS
from recado.domain.encoding import (
    LOOK_ALIKES,
    NotGsm7Encodable,
    analyze,
    grapheme_clusters,
    gsm7_septets,
)
from recado.domain.footer import FooterSettings, has_opt_out_instruction, with_footer
from recado.domain.templates import (
    MessageTemplate,
    TemplateProblem,
    TemplateSecurityProblem,
    TemplateSyntaxProblem,
    compile_template,
)

Severity = Literal["error", "warning", "info"]
MessageCategory = Literal["marketing", "transactional"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DEFAULT_MAX_PARTS: Final = 3
BRAND_WITHIN: Final = 30  # characters from the start where the brand must appear

# Public link shorteners whose links carriers commonly filter as spam.
PUBLIC_SHORTENERS: Final = (
    "bit.ly",
    "tinyurl.com",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "t.co",
    "cutt.ly",
    "rebrand.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "bl.ink",
)

# Words in capitals that are not shouting: keywords people must type, acronyms, currencies.
ALLOWED_CAPITALS: Final = _words(
    "STOP STOPALL UNSUBSCRIBE CANCEL END QUIT HELP INFO SAIR PARAR CANCELAR AJUDA BAJA AYUDA"
    " ALTO OK USA OTP SMS PIN VIP FAQ URL PDF PIX CPF CNPJ CEP RFC DNI NIF IVA USD BRL EUR MXN"
    " ARS GBP UTC GMT ATM SKU"
)

_SEVERITY_ORDER: Final[Mapping[str, int]] = {"error": 0, "warning": 1, "info": 2}
_TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_URL = re.compile(r"https?://[^\s<>\"'{}]+", re.IGNORECASE)
_SHORTENER_LINK = re.compile(
    r"(?<![\w.-])(?:https?://)?(?:www\.)?("
    + "|".join(re.escape(domain) for domain in PUBLIC_SHORTENERS)
    + r")(?=/|\b)(?!\.\w)[^\s<>\"'{}]*",
    re.IGNORECASE,
)
_CAPITALS = re.compile(r"(?<!\w)[^\W\d_]{3,}(?!\w)")
_TRAILING_PUNCTUATION = ".,;:!?)]'\""
_TYPICAL_SHORT_LINK = 22  # "https://go.brand.co/x7Kp2Q"


@dataclass(frozen=True)
class Finding:
    """One piece of advice about a message template."""

    severity: Severity
    code: str
    message: str
    fix: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "fix": self.fix,
            "details": dict(self.details),
        }


def lint(
    source: str,
    *,
    category: MessageCategory,
    brand: str | None = None,
    short_domain: str | None = None,
    max_parts: int = DEFAULT_MAX_PARTS,
    footer_will_be_added: bool = False,
    language: str | None = None,
    footer_settings: FooterSettings | None = None,
) -> list[Finding]:
    """Findings about `source`, errors first.

    Brand and opt-out checks apply to marketing messages only. `footer_will_be_added` says
    the opt-out footer is appended automatically (in `language`, from `footer_settings`):
    then no instruction is needed in the text, and the footer counts toward the parts.
    """
    findings: list[Finding] = []
    template: MessageTemplate | None = None
    try:
        template = compile_template(source)
    except TemplateProblem as problem:
        findings.append(_problem_finding(problem))
    text = _TEMPLATE_CODE.sub("", source)
    marketing = category == "marketing"
    if marketing and brand and brand.strip():
        findings.extend(_check_brand(text, brand.strip()))
    if marketing and not footer_will_be_added and not has_opt_out_instruction(source):
        findings.append(
            Finding(
                "warning",
                "opt_out_missing",
                "This marketing message does not say how to opt out.",
                "End it with 'Reply STOP to opt out', or turn on the automatic opt-out footer.",
            )
        )
    findings.extend(_check_links(source, short_domain))
    findings.extend(_check_capitals(text, brand))
    if template is not None:
        findings.extend(_check_variables(template))
        try:
            preview = template.preview(language).text
        except TemplateProblem as problem:
            findings.append(_problem_finding(problem))
        else:
            if marketing and footer_will_be_added:
                preview = with_footer(preview, language, footer_settings)
            findings.extend(_check_size(preview, max_parts))
    return sorted(findings, key=lambda finding: _SEVERITY_ORDER[finding.severity])


def _problem_finding(problem: TemplateProblem) -> Finding:
    if isinstance(problem, TemplateSyntaxProblem):
        code, fix = "template_syntax", "Correct the template at the line shown."
    elif isinstance(problem, TemplateSecurityProblem):
        code, fix = "template_not_allowed", "Remove this part: message templates cannot use it."
    else:
        code, fix = "template_render_failed", "Simplify the template at the part shown."
    details = {"line": problem.line} if problem.line else {}
    return Finding("error", code, problem.message, fix, details)


def _check_brand(text: str, brand: str) -> list[Finding]:
    start = text.lstrip()
    position = _fold(start).find(_fold(brand))
    if 0 <= position < BRAND_WITHIN:
        return []
    return [
        Finding(
            "warning",
            "brand_missing",
            f"The message does not start with your brand ({brand}): people ignore or "
            "report texts from senders they do not recognize.",
            f"Start with '{brand}: ' or '[{brand}] '.",
            {"brand": brand},
        )
    ]


def _check_links(source: str, short_domain: str | None) -> list[Finding]:
    findings: list[Finding] = []
    public = set()
    for match in _SHORTENER_LINK.finditer(source):
        link = match[0].rstrip(_TRAILING_PUNCTUATION)
        public.add(match[1].lower())
        findings.append(
            Finding(
                "warning",
                "public_shortener",
                f"{link} uses {match[1].lower()}, a public link shortener that carriers "
                "often block as spam.",
                "Use the workspace's own short links instead.",
                {"url": link, "domain": match[1].lower()},
            )
        )
    own = _domain_of(short_domain) if short_domain else None
    if own is None:
        return findings
    for match in _URL.finditer(source):
        url = match[0].rstrip(_TRAILING_PUNCTUATION)
        host = (urlsplit(url).hostname or "").lower()
        bare = host.removeprefix("www.")
        if not host or bare in public or host == own or host.endswith("." + own):
            continue
        findings.append(
            Finding(
                "info",
                "url_not_shortened",
                f"{url} is not a short link: it costs characters and its clicks are not counted.",
                f"Shorten it on {own}.",
                {"url": url, "characters_saved": max(len(url) - _TYPICAL_SHORT_LINK, 0)},
            )
        )
    return findings


def _check_capitals(text: str, brand: str | None) -> list[Finding]:
    allowed = ALLOWED_CAPITALS | {word.upper() for word in _CAPITALS.findall(brand or "")}
    without_links = _SHORTENER_LINK.sub(" ", _URL.sub(" ", text))
    shouted = [
        word
        for word in _CAPITALS.findall(without_links)
        if word.isupper() and word.upper() not in allowed
    ]
    words = list(dict.fromkeys(shouted))
    if not words:
        return []
    return [
        Finding(
            "info",
            "all_caps",
            f"Words in capitals read as shouting and trip carrier spam filters: {', '.join(words)}.",
            "Write them in normal case; keep capitals for keywords like STOP.",
            {"words": words},
        )
    ]


def _check_variables(template: MessageTemplate) -> list[Finding]:
    findings = []
    for name in template.variables.required:
        of_contact = name in STANDARD_FIELDS or name.startswith("attributes.")
        who = "contacts without it" if of_contact else "recipients for whom it is not provided"
        findings.append(
            Finding(
                "warning" if of_contact else "info",
                "variable_without_default",
                f"'{name}' has no default: {who} will not get this message.",
                f'Give it a fallback: {{{{ {name} | default("{_example_default(name)}") }}}}.',
                {"variable": name},
            )
        )
    return findings


def _check_size(text: str, max_parts: int) -> list[Finding]:
    findings: list[Finding] = []
    report = analyze(text)
    if report.segments > max_parts:
        findings.append(
            Finding(
                "warning",
                "too_many_parts",
                f"This message is {report.segments} parts ({report.encoding}, "
                f"{report.characters} characters); the limit is {max_parts}.",
                "Shorten the text; each part is billed as one SMS.",
                {"parts": report.segments, "encoding": report.encoding, "limit": max_parts},
            )
        )
    if report.encoding == "UCS-2":
        findings.append(_ucs2_finding(text, report.segments, report.non_gsm))
    return findings


def _ucs2_finding(text: str, parts: int, characters: tuple[str, ...]) -> Finding:
    """Which characters force UCS-2, and what leaving them out would save: first by smart
    encoding (look-alike punctuation only), then by also writing letters without accents
    and dropping emoji."""
    smart = analyze(text, smart=True)
    look_alikes = [char for char in characters if char in LOOK_ALIKES]
    if smart.encoding == "GSM-7":
        parts_without = smart.segments
        fix = (
            f"Turn on smart encoding, or type plain characters instead of {', '.join(look_alikes)}."
        )
    else:
        parts_without = analyze(_gsm_fallback(text)).segments
        fix = "Write the letters without accents and leave out emoji if the parts matter."
        if look_alikes:
            fix += f" Smart encoding can replace {', '.join(look_alikes)} but not the others."
    saved = parts - parts_without
    message = (
        f"{len(characters)} character(s) force Unicode (UCS-2), which fits 70 characters "
        f"per part instead of 160: {', '.join(characters)}. "
    )
    if saved:
        message += f"Without them the message is {parts_without} part(s) instead of {parts}."
    else:
        message += "Here they cost no extra part."
    return Finding(
        "warning" if saved else "info",
        "ucs2_characters",
        message,
        fix,
        {
            "characters": list(characters),
            "parts": parts,
            "parts_with_smart_encoding": smart.segments,
            "parts_without": parts_without,
            "parts_saved": saved,
        },
    )


def _example_default(name: str) -> str:
    return "there" if name in ("first_name", "name") else "..."


def _gsm_fallback(text: str) -> str:
    """`text` in GSM-7: look-alikes replaced, accents dropped where the bare letter is GSM-7
    (ã → a, ç → c), anything else (emoji) left out."""
    pieces: list[str] = []
    for cluster in grapheme_clusters(text):
        if _is_gsm(cluster):
            pieces.append(cluster)
        elif cluster in LOOK_ALIKES:
            pieces.append(LOOK_ALIKES[cluster])
        else:
            bare = "".join(
                char
                for char in unicodedata.normalize("NFKD", cluster)
                if not unicodedata.combining(char)
            )
            pieces.append(bare if bare and _is_gsm(bare) else "")
    return "".join(pieces)


def _is_gsm(text: str) -> bool:
    try:
        gsm7_septets(text)
    except NotGsm7Encodable:
        return False
    return True


def _domain_of(value: str) -> str:
    text = value.strip().lower()
    host = urlsplit(text if "://" in text else f"//{text}").hostname or text
    return host.removeprefix("www.")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
