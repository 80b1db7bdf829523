"""Message templates: Jinja2 text rendered once per contact inside a sandbox.

A campaign compiles its body once (`compile_template`, cached by source) and renders it for
every recipient (`MessageTemplate.render`). A variable that is undefined or empty and has no
fallback in the template makes the render not sendable (`Rendered.ok` is false), so nobody
receives "Hi ,". Templates are written by workspace users, so the environment is locked down:
no Python internals, no imports or macros, capped loops, ranges and output.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final, NamedTuple, TypeVar

from jinja2 import ChainableUndefined, TemplateSyntaxError, UndefinedError, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from recado.errors import ValidationFailed


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


MAX_SOURCE_LENGTH: Final = 10_000
MAX_OUTPUT_LENGTH: Final = 10_000
MAX_RANGE: Final = 1_000
MAX_LOOP_ITERATIONS: Final = 10_000
MAX_INT_BITS: Final = 4_096  # about 1,200 digits: larger numbers are an attack, not a price
TEMPLATE_CACHE_SIZE: Final = 1_024

DEFAULT_FILTERS: Final = ("default", "d")
DATE_STYLES: Final = ("short", "long")

# Names that refer to framework internals in Jinja or Flask templates. None of them exists
# here, but a template that names one is probing the sandbox, so it is refused outright.
RESERVED_NAMES: Final = frozenset(
    _words(
        "self config request session environment context cycler joiner lipsum namespace dict"
        " url_for get_flashed_messages caller varargs kwargs"
    )
)


class TemplateProblem(ValidationFailed):
    """A message template that cannot be used; `line` is 1-based when known."""

    code = "invalid_template"

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None):
        super().__init__(f"Line {line}: {message}" if line else message, field=field)
        self.line = line
        self.detail = message


class TemplateSyntaxProblem(TemplateProblem):
    """The template is not well formed: an unclosed '{{', an unknown filter..."""

    code = "template_syntax_error"


class TemplateSecurityProblem(TemplateProblem):
    """The template tries something the sandbox forbids (Python internals, huge ranges...)."""

    code = "template_not_allowed"


class TemplateRenderProblem(TemplateProblem):
    """The template is valid but rendering failed: output too long, a bad amount or date..."""

    code = "template_render_failed"


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What one render sees.

    Names resolve, first match wins: `extra` (what the caller adds: a campaign's
    `discount_code`, an event's `cart_url`), then `contact` fields, then custom `attributes`
    (which are also always reachable as `attributes.x`). `language` (else the contact's
    `language` field, else English) drives the `currency` and `date` filters.
    """

    contact: Mapping[str, Any]
    attributes: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    language: str | None = None

    @classmethod
    def of_contact(
        cls,
        contact: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
        language: str | None = None,
    ) -> RenderContext:
        """From a contact mapping that carries its custom attributes under "attributes"."""
        attributes = contact.get("attributes") or _EMPTY
        return cls(contact, attributes, extra if extra is not None else _EMPTY, language)


class Rendered(NamedTuple):
    """A rendered message. Not `ok` when a variable without a fallback was missing or empty
    (listed in `missing`, in order of appearance) or when the text is blank.

    A named tuple, not a dataclass: a campaign makes a million of these and a frozen
    dataclass costs three times as much to build."""

    text: str
    missing: tuple[str, ...]
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "missing": list(self.missing), "ok": self.ok}


@dataclass(frozen=True, slots=True)
class TemplateVariables:
    """The variables a template uses, in order of first use: top-level names such as
    `first_name`, and custom attributes reached as `attributes.city`. `with_default` are
    the ones every use of which has a fallback: a `default` filter, `x or "..."`, or a
    surrounding `{% if x %}`; a missing value there never blocks a send."""

    names: tuple[str, ...]
    with_default: tuple[str, ...]

    @property
    def required(self) -> tuple[str, ...]:
        """Variables whose absence makes a render not sendable."""
        return tuple(name for name in self.names if name not in self.with_default)

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "with_default": list(self.with_default),
            "required": list(self.required),
        }


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class _RenderState:
    """What the filters and the undefined values of the render in progress share."""

    __slots__ = ("missing", "iterations", "language", "attributes")

    def __init__(self, language: str, attributes: Mapping[str, Any]) -> None:
        self.missing: list[str] = []
        self.iterations = 0
        self.language = language
        self.attributes = attributes


# Undefined values have no handle on the render that made them; this carries it, and is
# safe across threads and asyncio tasks.
_STATE: ContextVar[_RenderState | None] = ContextVar("recado_template_render", default=None)


class _Sample(str):
    """A preview value: text, but the currency and date filters format a typical value."""

    __slots__ = ()


class _RecordingUndefined(ChainableUndefined):
    """An undefined value that notes its name in the render's missing list when it is
    printed or used in a computation; tests (`{% if x %}`) and `default` leave no trace."""

    __slots__ = ()

    def _record(self) -> None:
        state = _STATE.get()
        if state is None:
            return
        name = self._undefined_name
        if self._undefined_obj is state.attributes:
            state.missing.append(f"attributes.{name}")
        else:
            state.missing.append(str(name) if name is not None else "value")

    def __str__(self) -> str:
        self._record()
        return ""

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        self._record()
        return super()._fail_with_undefined_error(*args, **kwargs)

    # Arithmetic and comparisons of a missing value fail (and are recorded); calls chain.
    __add__ = __radd__ = __sub__ = __rsub__ = _fail_with_undefined_error
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _fail_with_undefined_error
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _fail_with_undefined_error
    __pos__ = __neg__ = __pow__ = __rpow__ = _fail_with_undefined_error
    __lt__ = __le__ = __gt__ = __ge__ = _fail_with_undefined_error
    __int__ = __float__ = __complex__ = _fail_with_undefined_error

    def __call__(self, *args: Any, **kwargs: Any) -> _RecordingUndefined:  # type: ignore[override]
        return self


def _is_blank(value: Any) -> bool:
    return value is None or (value.__class__ is str and (not value or value.isspace()))


class _SandboxEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, tightened for SMS text.

    On top of Jinja's sandbox: attribute access is an allow-list per type (strings get a few
    read-only methods, numbers none: `(1).to_bytes(10**9)` would allocate a gigabyte), a key
    of a mapping wins over a method of the same name, empty values read as undefined so that
    `default` applies, and string repetition, concatenation and powers are size-checked.
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        for kind, allowed in _ALLOWED_ATTRIBUTES:
            if isinstance(obj, kind):
                return attr in allowed
        if isinstance(obj, (Undefined, LoopContext)):
            return super().is_safe_attribute(obj, attr, value)
        # Any other object a caller put in the context: its data, never its methods, which
        # might do anything (an ORM row has delete()).
        return super().is_safe_attribute(obj, attr, value) and not callable(value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"'{attribute}' is not available in message templates")

    def wrap_str_format(self, value: Any) -> None:
        # str.format is not on the allow-list: "{:>999999999}".format(1) needs no loop.
        return None

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                value = obj[attribute]
            except (LookupError, TypeError):
                pass
            else:
                return self._present(obj, attribute, value)
        if attribute.startswith("_"):
            raise SecurityError(f"'{attribute}' is not available in message templates")
        return self._present(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._present(obj, argument, super().getitem(obj, argument))

    def _present(self, obj: Any, name: Any, value: Any) -> Any:
        if _is_blank(value):
            return self.undefined(obj=obj, name=name)
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
            if _both_ints(left, right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError("this number is too large")
        elif operator == "**":
            too_big = _both_ints(left, right) and left.bit_length() * max(right, 0) > MAX_INT_BITS
            if too_big and abs(left) > 1:
                raise SecurityError("this number is too large")
        elif operator == "%" and isinstance(left, str):
            raise SecurityError("'%' text formatting is not available in message templates")
        result = self.binop_table[operator](left, right)
        if operator == "+" and isinstance(result, (str, list, tuple)):
            _check_size(len(result))
        return result


_ALLOWED_ATTRIBUTES: tuple[tuple[type | tuple[type, ...], frozenset[str]], ...] = (
    (
        str,
        frozenset(_words("upper lower title capitalize strip lstrip rstrip startswith endswith")),
    ),
    ((bytes, bytearray, bool, int, float, complex, Decimal), frozenset()),
    (Mapping, frozenset(_words("get items keys values"))),
    ((list, tuple, range), frozenset(_words("index count"))),
    (date, frozenset(_words("year month day hour minute second weekday isoformat"))),
)


def _both_ints(left: Any, right: Any) -> bool:
    return isinstance(left, int) and isinstance(right, int)


def _check_repeat(sequence: Any, times: Any) -> None:
    if isinstance(sequence, (str, list, tuple)) and isinstance(times, int):
        _check_size(len(sequence) * times)


def _check_size(size: int) -> None:
    if size > MAX_OUTPUT_LENGTH:
        raise TemplateRenderProblem(
            f"A value would be longer than {MAX_OUTPUT_LENGTH:,} characters."
        )


def _check_output(size: int) -> None:
    if size > MAX_OUTPUT_LENGTH:
        raise TemplateRenderProblem(
            f"The message would be longer than {MAX_OUTPUT_LENGTH:,} characters."
        )


def _capped_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateSecurityProblem(f"range() is limited to {MAX_RANGE:,} numbers.")
    return numbers


# --- filters -------------------------------------------------------------------------------

_PARTICLES: Final = frozenset(
    {"da", "de", "do", "dos", "das", "e", "y", "del", "van", "von", "der", "den", "di", "du"}
)
_APOSTROPHES: Final = ("'", "\u2019")
_WHITESPACE_RUN = re.compile(r"(\s+)")


def title_case(value: Any) -> str:
    """Names in title case, with lowercase particles: "joão da silva" → "João da Silva".

    A particle that comes first stays capitalized ("De Souza"); hyphenated parts are each
    capitalized ("Jean-Luc"), and so is a letter after a one-letter prefix ("O'Neil").
    """
    pieces = _WHITESPACE_RUN.split(str(value))
    first = True
    for index, piece in enumerate(pieces):
        if not piece or piece.isspace():
            continue
        lowered = piece.lower()
        if not first and lowered in _PARTICLES:
            pieces[index] = lowered
        else:
            pieces[index] = "-".join(_capitalize_word(part) for part in lowered.split("-"))
        first = False
    return "".join(pieces)


def _capitalize_word(word: str) -> str:
    for mark in _APOSTROPHES:
        prefix, found, rest = word.partition(mark)
        if found and len(prefix) == 1 and rest:
            return prefix.title() + mark + rest[:1].title() + rest[1:]
    return word[:1].title() + word[1:]


# Separators by language: (thousands, decimal). A more specific language-region wins.
_NUMBER_SEPARATORS: Final[Mapping[str, tuple[str, str]]] = {
    "en": (",", "."),
    "pt": (".", ","),
    "es": (".", ","),
    "es-MX": (",", "."),
    "es-US": (",", "."),
}

# How each currency is written around the number, by language. Plain spaces only: the
# non-breaking space that locale data uses is not GSM-7 and would make the SMS UCS-2.
_CURRENCY_PATTERNS: Final[Mapping[str, Mapping[str, str]]] = {
    "en": {
        "USD": "${}",
        "BRL": "R${}",
        "EUR": "€{}",
        "GBP": "£{}",
        "MXN": "MX${}",
        "ARS": "ARS {}",
    },
    "pt": {
        "USD": "US$ {}",
        "BRL": "R$ {}",
        "EUR": "€ {}",
        "GBP": "£ {}",
        "MXN": "MX$ {}",
        "ARS": "ARS {}",
    },
    "es": {
        "USD": "US${}",
        "BRL": "R${}",
        "EUR": "{} €",
        "GBP": "{} £",
        "MXN": "${}",
        "ARS": "${}",
    },
}
_T = TypeVar("_T")
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
_ONE = Decimal(1)


@functools.lru_cache(maxsize=256)
def _language_keys(language: str) -> tuple[str, str]:
    """("pt-BR", "pt") for "pt_br", "PT-br" or "pt-BR"."""
    base, _, region = language.replace("_", "-").partition("-")
    base = base.lower()
    return (f"{base}-{region.upper()}" if region else base), base


def _lookup(table: Mapping[str, _T], language: str) -> _T | None:
    full, base = _language_keys(language)
    return table.get(full) or table.get(base)


def format_currency(amount: Any, code: str = "USD", language: str = "en") -> str:
    """`amount` as money in `language`: en $1,234.50, pt-BR R$ 1.234,50, es 1.234,50 €.

    Currencies outside the table are written as "1,234.50 XYZ" with the language's separators.
    """
    pattern, thousands, decimal_mark = _money_format(str(code), language)
    cents = int(_to_decimal(amount).scaleb(2).quantize(_ONE, rounding=ROUND_HALF_UP))
    units, rest = divmod(abs(cents), 100)
    number = f"{units:,}".replace(",", thousands) + f"{decimal_mark}{rest:02d}"
    return ("-" if cents < 0 else "") + pattern.format(number)


@functools.lru_cache(maxsize=256)
def _money_format(code: str, language: str) -> tuple[str, str, str]:
    """(pattern, thousands separator, decimal mark): the part that depends on no amount."""
    code = code.strip().upper()
    if not _CURRENCY_CODE.match(code):
        raise TemplateRenderProblem(f"'{code}' is not a currency code such as USD or BRL.")
    thousands, decimal_mark = _lookup(_NUMBER_SEPARATORS, language) or _NUMBER_SEPARATORS["en"]
    patterns = _lookup(_CURRENCY_PATTERNS, language) or _CURRENCY_PATTERNS["en"]
    return patterns.get(code, "{} " + code), thousands, decimal_mark


def _to_decimal(amount: Any) -> Decimal:
    if isinstance(amount, bool):
        raise TemplateRenderProblem(f"{amount!r} is not an amount of money.")
    if isinstance(amount, Decimal):
        value = amount
    else:
        try:
            # str() of a float is its shortest repr, so 19.9 stays 19.9, not 19.899999...
            value = Decimal(str(amount).strip())
        except InvalidOperation:
            raise TemplateRenderProblem(f"'{amount}' is not an amount of money.") from None
    if not value.is_finite() or value.adjusted() > 15:
        raise TemplateRenderProblem(f"'{amount}' is not an amount of money.")
    return value


_MONTHS: Final[Mapping[str, tuple[str, ...]]] = {
    "en": _words(
        "January February March April May June July August September October November December"
    ),
    "pt": _words(
        "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro"
    ),
    "es": _words(
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
    ),
}
_EN_MONTHS_SHORT: Final = tuple(month[:3] for month in _MONTHS["en"])


def format_date(value: Any, style: str = "short", language: str = "en") -> str:
    """A date in `language`: en "Dec 1" / "December 1, 2026", pt and es "1 de dezembro" /
    "1 de dezembro de 2026". Takes a date, a datetime (its own date: pass local time) or an
    ISO 8601 string."""
    if style not in DATE_STYLES:
        raise TemplateRenderProblem(f"The date style '{style}' does not exist: use short or long.")
    day = _to_date(value)
    base = _language_keys(language)[1]
    if base not in _MONTHS:
        base = "en"
    if base == "en":
        if style == "short":
            return f"{_EN_MONTHS_SHORT[day.month - 1]} {day.day}"
        return f"{_MONTHS['en'][day.month - 1]} {day.day}, {day.year}"
    text = f"{day.day} de {_MONTHS[base][day.month - 1]}"
    return text if style == "short" else f"{text} de {day.year}"


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            pass
    raise TemplateRenderProblem(f"'{value}' is not a date: use a date such as 2026-12-01.")


def _language() -> str:
    state = _STATE.get()
    return state.language if state is not None else "en"


@pass_context  # never folded at compile time: the result depends on the contact's language
def _currency_filter(context: Context, amount: Any, code: str = "USD") -> Any:
    if isinstance(amount, Undefined):
        return amount
    if isinstance(amount, _Sample):
        amount = Decimal("49.90")
    return format_currency(amount, code, _language())


@pass_context
def _date_filter(context: Context, value: Any, style: str = "short") -> Any:
    if isinstance(value, Undefined):
        return value
    if isinstance(value, _Sample):
        value = date(2026, 12, 1)
    return format_date(value, style, _language())


def _title_filter(value: Any) -> Any:
    return value if isinstance(value, Undefined) else title_case(value)


def _replace_filter(value: Any, old: str, new: str, count: int | None = None) -> Any:
    if isinstance(value, Undefined):
        return value
    text, old, new = str(value), str(old), str(new)
    times = text.count(old) if count is None else min(count, text.count(old))
    _check_size(len(text) + times * (len(new) - len(old)))
    return text.replace(old, new, -1 if count is None else count)


def _join_filter(value: Any, separator: str = "") -> Any:
    if isinstance(value, Undefined):
        return value
    items = [str(item) for item in value]
    _check_size(sum(map(len, items)) + len(str(separator)) * max(len(items) - 1, 0))
    return str(separator).join(items)


def _concat_filter(values: list[Any]) -> str:
    """`a ~ b`, rewritten to this at compile time so that its size is checked."""
    pieces = [str(value) for value in values]
    _check_size(sum(map(len, pieces)))
    return "".join(pieces)


@pass_context  # never folded: it counts the iterations of this render
def _loop_filter(context: Context, iterable: Any) -> Iterator[Any]:
    """Every `{% for %}` iterates through this, so a render runs a bounded number of loops."""
    state = _STATE.get()
    for item in iterable:
        if state is not None:
            state.iterations += 1
            if state.iterations > MAX_LOOP_ITERATIONS:
                raise TemplateSecurityProblem(
                    f"Loops are limited to {MAX_LOOP_ITERATIONS:,} steps per message."
                )
        yield item


def _keep_undefined(func: Callable[..., Any]) -> Callable[..., Any]:
    """A built-in filter that hands a missing value on, so `default` after it still applies."""
    position = 1 if hasattr(func, "jinja_pass_arg") else 0

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if isinstance(args[position], Undefined):
            return args[position]
        return func(*args, **kwargs)

    return wrapper


# Built-in filters that only read or shrink a value. Left out: the ones that can blow a
# value up (center, indent, wordwrap, format, urlize...), HTML ones, and attribute helpers.
_KEPT_FILTERS: Final = _words(
    "upper lower capitalize trim truncate round int float string abs first last list min max sum"
    " unique wordcount"
)

_OUR_FILTERS: Final[Mapping[str, Callable[..., Any]]] = {
    "title": _title_filter,
    "currency": _currency_filter,
    "date": _date_filter,
    "replace": _replace_filter,
    "join": _join_filter,
    "_recado_concat": _concat_filter,
    "_recado_loop": _loop_filter,
}

FILTER_NAMES: Final = tuple(
    sorted(
        {*DEFAULT_FILTERS, "length", "count", *_KEPT_FILTERS, *_OUR_FILTERS}
        - {"_recado_concat", "_recado_loop"}
    )
)


def _environment() -> _SandboxEnvironment:
    env = _SandboxEnvironment(
        # Autoescaping is off: this is SMS text, not HTML, and escaping would send "&amp;".
        autoescape=False,
        undefined=_RecordingUndefined,
        trim_blocks=True,  # a line holding only {% if %} leaves no blank line in the SMS
        lstrip_blocks=True,
        cache_size=0,
        auto_reload=False,
    )
    env.globals.clear()
    env.globals["range"] = _capped_range
    env.filters = {
        **{name: JINJA_FILTERS[name] for name in DEFAULT_FILTERS},
        **{name: JINJA_FILTERS[name] for name in ("length", "count")},
        **{name: _keep_undefined(JINJA_FILTERS[name]) for name in _KEPT_FILTERS},
        **_OUR_FILTERS,
    }
    return env


_ENV: Final = _environment()


# --- compiling -----------------------------------------------------------------------------


class MessageTemplate:
    """A compiled template: compile once per campaign, render once per recipient."""

    __slots__ = (
        "source",
        "variables",
        "_render_func",
        "_streamed",
        "_names",
        "_attributes",
    )

    def __init__(self, source: str) -> None:
        self.source = source
        tree = _parse(source)
        _refuse_forbidden(tree)
        try:
            # Jinja's own analysis already looks filters up: an unknown one fails here.
            top_level = find_undeclared_variables(tree)
            self.variables = _variables_of(tree, top_level)
            _Guard().visit(tree)
            tree.set_environment(_ENV)
            code = _ENV.compile(tree)
        except TemplateSyntaxError as error:
            raise _syntax_problem(error, source) from None
        template = _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None), None)
        self._render_func = template.root_render_func
        # Without loops the output is bounded by the size checks on each value, so it can be
        # joined at once; a loop's output is counted as it comes.
        self._streamed = any(True for _ in tree.find_all(nodes.For))
        self._attributes = "attributes" in top_level
        # Globals (range) are never data: Jinja does not list them as undeclared names.
        self._names = tuple(sorted(top_level - {"attributes"}))

    def render(self, context: RenderContext) -> Rendered:
        """The message for one recipient. Raises a `TemplateProblem` only for what no
        recipient data can fix (a sandbox violation, an over-long output, a bad amount)."""
        extra, contact, attributes = context.extra, context.contact, context.attributes
        values = _ENV.globals.copy()
        if self._attributes:
            values["attributes"] = attributes
        for name in self._names:
            if name in extra:
                value = extra[name]
            elif name in contact:
                value = contact[name]
            elif name in attributes:
                value = attributes[name]
            else:
                continue
            # An empty value is left out, so it reads as undefined and `default` applies.
            if value is not None and (value.__class__ is not str or value.strip()):
                values[name] = value
        language = context.language or contact.get("language") or "en"
        state = _RenderState(language, attributes)
        token = _STATE.set(state)
        try:
            text = self._run(values)
        except UndefinedError:
            if not state.missing:
                raise TemplateRenderProblem(
                    "The message uses a value that does not exist."
                ) from None
            text = ""
        finally:
            _STATE.reset(token)
        missing = tuple(dict.fromkeys(state.missing)) if state.missing else ()
        return Rendered(text, missing, not missing and not text.isspace() and text != "")

    def preview(
        self, language: str | None = None, samples: Mapping[str, Any] | None = None
    ) -> Rendered:
        """The message with a typical value for every variable, for previews and part counts.

        `samples` (by variable name, `attributes.x` included) override the built-in ones:
        "Maria" for first_name, a short link for names ending in url or link, the name
        itself in words otherwise ("discount code"); money and dates get 49.90 and Dec 1.
        """
        given = samples or {}
        top: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        for name in self.variables.names:
            value = given.get(name, _Sample(_sample_text(name)))
            if name.startswith("attributes."):
                attributes[name.removeprefix("attributes.")] = value
            else:
                top[name] = value
        return self.render(
            RenderContext(contact={}, attributes=attributes, extra=top, language=language)
        )

    def _run(self, values: dict[str, Any]) -> str:
        # A Context built directly: Template.new_context would copy the globals every time.
        context = Context(_ENV, values, None, {})
        try:
            if not self._streamed:
                text = "".join(self._render_func(context))
                _check_output(len(text))
                return text
            pieces: list[str] = []
            size = 0
            for piece in self._render_func(context):
                size += len(piece)
                _check_output(size)
                pieces.append(piece)
            return "".join(pieces)
        except (TemplateProblem, UndefinedError):
            raise
        except SecurityError as error:
            raise TemplateSecurityProblem(str(error)) from None
        except RecursionError:
            raise TemplateSecurityProblem("The template nests too deeply.") from None
        except Exception as error:
            raise TemplateRenderProblem(f"The message could not be written: {error}") from error

    def __repr__(self) -> str:
        return f"MessageTemplate({self.source!r})"


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def compile_template(source: str) -> MessageTemplate:
    """The compiled template for `source`, cached: a campaign compiles once.

    Raises `TemplateSyntaxProblem` or `TemplateSecurityProblem` with the line to fix.
    """
    return MessageTemplate(source)


def render(source: str, context: RenderContext) -> Rendered:
    """Compile (cached) and render in one call."""
    return compile_template(source).render(context)


def template_variables(source: str) -> TemplateVariables:
    """The variables `source` uses and which of them have a fallback (for lint and the UI)."""
    return compile_template(source).variables


def _sample_text(name: str) -> str:
    leaf = name.rpartition(".")[2]
    if leaf in _SAMPLES:
        return _SAMPLES[leaf]
    if leaf.endswith(("url", "link")):
        return "https://rcd.to/x7Kp2Q"
    if leaf.endswith("code"):
        return "SAVE20"
    return leaf.replace("_", " ")


_SAMPLES: Final[Mapping[str, str]] = {
    "first_name": "Maria",
    "last_name": "Silva",
    "name": "Maria Silva",
    "phone": "+5511987654321",
    "email": "maria@example.com",
    "language": "pt-BR",
    "city": "Campinas",
}


def _parse(source: str) -> nodes.Template:
    if len(source) > MAX_SOURCE_LENGTH:
        raise TemplateSyntaxProblem(
            f"The template is longer than {MAX_SOURCE_LENGTH:,} characters."
        )
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as error:
        raise _syntax_problem(error, source) from None


def _refuse_forbidden(tree: nodes.Template) -> None:
    """Constructs that have no place in an SMS and would open the sandbox to abuse:
    other templates (extends, include, import), macros and call blocks (unbounded recursion),
    recursive loops, dunder attributes and reserved names."""
    for node in tree.find_all(nodes.Node):
        line = node.lineno
        if isinstance(node, (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            raise TemplateSecurityProblem(
                "Messages cannot include other templates (extends, include, import).", line=line
            )
        if isinstance(node, (nodes.Macro, nodes.CallBlock)):
            raise TemplateSecurityProblem("Macros are not available in messages.", line=line)
        if isinstance(node, nodes.For) and node.recursive:
            raise TemplateSecurityProblem(
                "Recursive loops are not available in messages.", line=line
            )
        if isinstance(node, nodes.Getattr) and node.attr.startswith("__"):
            raise TemplateSecurityProblem(
                f"'{node.attr}' is not available in message templates.", line=line
            )
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in RESERVED_NAMES:
            raise TemplateSecurityProblem(
                f"'{node.name}' is reserved and cannot be used in a message.", line=line
            )


class _Guard(NodeTransformer):
    """Routes every loop through the iteration budget and every `~` through the size check."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_recado_loop", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        values = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(values, "_recado_concat", [], [], None, None, lineno=node.lineno)


def _variables_of(tree: nodes.Template, top_level: set[str]) -> TemplateVariables:
    uses: list[tuple[str, bool]] = []
    _collect(tree, False, frozenset(), uses)
    names: dict[str, bool] = {}  # name -> every use has a fallback
    for name, safe in uses:
        if name.partition(".")[0] in top_level:
            names[name] = names.get(name, True) and safe
    return TemplateVariables(
        names=tuple(names), with_default=tuple(name for name, safe in names.items() if safe)
    )


def _collect(
    node: nodes.Node, safe: bool, guarded: frozenset[str], uses: list[tuple[str, bool]]
) -> None:
    """Variable uses in document order, each with whether it has a fallback there."""

    def walk(
        child: nodes.Node | None, child_safe: bool = safe, child_guarded: frozenset[str] = guarded
    ) -> None:
        if child is not None:
            _collect(child, child_safe, child_guarded, uses)

    def names_in(child: nodes.Node) -> frozenset[str]:
        found: list[tuple[str, bool]] = []
        _collect(child, True, guarded, found)
        uses.extend(found)
        return frozenset(name for name, _ in found)

    if isinstance(node, nodes.Name):
        if node.ctx == "load":
            uses.append((node.name, safe or node.name in guarded))
    elif isinstance(node, nodes.Getattr) and _is_attributes(node.node):
        name = f"attributes.{node.attr}"
        uses.append((name, safe or name in guarded))
    elif isinstance(node, nodes.Getitem) and _is_attributes(node.node) and _const_key(node.arg):
        name = f"attributes.{_const_key(node.arg)}"
        uses.append((name, safe or name in guarded))
    elif isinstance(node, nodes.Filter) and node.name in DEFAULT_FILTERS:
        walk(node.node, True)
        for child in node.iter_child_nodes(exclude=("node",)):
            walk(child)
    elif isinstance(node, nodes.Or):
        walk(node.left, True)
        walk(node.right)
    elif isinstance(node, nodes.If):
        tested = names_in(node.test)
        for child in node.body:
            walk(child, safe, guarded | tested)
        for child in [*node.elif_, *node.else_]:
            walk(child)
    elif isinstance(node, nodes.CondExpr):
        tested = names_in(node.test)
        walk(node.expr1, safe, guarded | tested)
        walk(node.expr2)
    elif isinstance(node, nodes.Test):
        walk(node.node, True)
        for child in node.iter_child_nodes(exclude=("node",)):
            walk(child)
    elif isinstance(node, nodes.For):
        # Looping over a missing list or testing a value prints nothing: no "Hi ,".
        walk(node.target)
        walk(node.iter, True)
        walk(node.test, True)
        for child in [*node.body, *node.else_]:
            walk(child)
    else:
        for child in node.iter_child_nodes():
            walk(child)


def _is_attributes(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "attributes" and node.ctx == "load"


def _const_key(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return str(node.value)
    return None


# --- syntax errors in words a marketer understands -----------------------------------------

_BLOCK_NOT_CLOSED = re.compile(r"innermost block that needs to be closed is '(\w+)'")
_UNKNOWN_TAG = re.compile(r"^Encountered unknown tag '(\w+)'")
_UNKNOWN_FILTER = re.compile(r"^No filter named '([^']+)'")
_UNKNOWN_TEST = re.compile(r"^No test named '([^']+)'")
_GOT = re.compile(r"expected token 'end of print statement', got '([^']+)'")
_UNEXPECTED_CHAR = re.compile(r"^unexpected char (.+?) at \d+")


def _syntax_problem(error: TemplateSyntaxError, source: str) -> TemplateSyntaxProblem:
    message = error.message or str(error)
    line = error.lineno
    closed = _BLOCK_NOT_CLOSED.search(message)
    unknown_tag = _UNKNOWN_TAG.search(message)
    if "expected 'end of print statement'" in message and "end of template" in message:
        text = "a '{{' is not closed: add '}}' after the variable."
        line = _line_of_last(source, "{{") or line
    elif message.startswith("unexpected '}'"):
        text = "a '{{' must be closed with '}}', not a single '}'."
    elif message == "Expected an expression, got 'end of print statement'":
        text = "'{{ }}' is empty: put a variable inside, such as {{ first_name }}."
    elif match := _GOT.search(message):
        text = (
            f"unexpected '{match[1]}' inside '{{{{ }}}}': a variable name has no spaces "
            "(first_name), and filters come after '|'."
        )
    elif unknown_tag and closed:
        text = f"'{{% {unknown_tag[1]} %}}' does not close the open '{{% {closed[1]} %}}'."
    elif closed:
        text = f"the '{{% {closed[1]} %}}' block is not closed: add '{{% end{closed[1]} %}}'."
        line = _unclosed_block_line(source, closed[1]) or line
    elif unknown_tag and unknown_tag[1].startswith("end"):
        text = f"'{{% {unknown_tag[1]} %}}' has no opening '{{% {unknown_tag[1][3:]} %}}'."
    elif unknown_tag:
        text = f"'{{% {unknown_tag[1]} %}}' is not a tag that messages can use."
    elif match := _UNKNOWN_FILTER.search(message):
        text = f"there is no filter called '{match[1]}'. Filters: {', '.join(FILTER_NAMES)}."
    elif match := _UNKNOWN_TEST.search(message):
        text = f"there is no test called '{match[1]}'."
    elif match := _UNEXPECTED_CHAR.search(message):
        quote = match[1].strip("\"'") in ("'", '"') or match[1] in ('"\'"', "'\"'")
        text = "a quote is not closed." if quote else f"unexpected character {match[1]}."
    elif message.startswith("Missing end of comment tag"):
        text = "a '{#' comment is not closed with '#}'."
    else:
        text = f"the template cannot be read here ({message.rstrip('.')})."
    return TemplateSyntaxProblem(text, line=line)


def _line_of_last(source: str, opener: str) -> int | None:
    position = source.rfind(opener)
    return source.count("\n", 0, position) + 1 if position >= 0 else None


def _unclosed_block_line(source: str, block: str) -> int | None:
    """The line of the `{% block %}` that no `{% endblock %}` closes."""
    opened: list[int] = []
    for tag in re.finditer(r"\{%[-+]?\s*(\w+)", source):
        if tag[1] == block:
            opened.append(tag.start())
        elif tag[1] == f"end{block}" and opened:
            opened.pop()
    return source.count("\n", 0, opened[-1]) + 1 if opened else None
