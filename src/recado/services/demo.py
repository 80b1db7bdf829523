"""Sample data for trying Recado: realistic contacts in four countries, tags, attributes, lists.

The contacts go in through the real CSV import, so the demo exercises the same path as a
customer's file. Numbers are drawn at random and kept only when they are valid mobiles.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import ContactList
from recado.services import imports, lists
from recado.services.actor import Actor

_PEOPLE = {
    # country: (number template digits, language, time zone hint, first names, last names)
    "US": (
        ("+1415", "+1212", "+1305", "+1312", "+1512"),
        "en",
        ("Emma", "Liam", "Olivia", "Noah", "Ava", "James", "Mia", "Lucas", "Harper", "Ethan"),
        ("Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Moore", "Lee"),
    ),
    "BR": (
        ("+55119", "+55219", "+55319", "+55419", "+55719"),
        "pt-BR",
        ("Ana", "João", "Maria", "José", "Beatriz", "Lucas", "Júlia", "Gabriel", "Letícia"),
        ("Silva", "Santos", "Oliveira", "Souza", "Conceição", "Pereira", "Lima", "Araújo"),
    ),
    "MX": (
        ("+5255", "+5233", "+5281"),
        "es",
        ("Sofía", "Mateo", "Valentina", "Santiago", "Camila", "Diego", "Ximena", "Emiliano"),
        ("Hernández", "García", "Martínez", "López", "González", "Rodríguez", "Pérez"),
    ),
    "ES": (
        ("+346",),
        "es",
        ("Lucía", "Hugo", "Martina", "Pablo", "Paula", "Álvaro", "Carmen", "Javier"),
        ("Fernández", "Ruiz", "Jiménez", "Moreno", "Muñoz", "Álvarez", "Romero"),
    ),
}
_SHARE = (("US", 0.4), ("BR", 0.35), ("MX", 0.15), ("ES", 0.10))
_CITIES = {
    "US": ("San Francisco", "New York", "Miami", "Chicago", "Austin"),
    "BR": ("São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba", "Salvador"),
    "MX": ("Ciudad de México", "Guadalajara", "Monterrey"),
    "ES": ("Madrid", "Barcelona", "Valencia", "Sevilla"),
}
_TAGS = ("vip", "newsletter", "wholesale", "app-user", "black-friday-2025", "returning")
LISTS = ("Newsletter", "VIP customers", "Brazil launch")


@dataclass(frozen=True)
class DemoReport:
    contacts_created: int
    contacts_updated: int
    lists: dict[str, int]  # list name -> members added


def sample_csv(count: int, seed: int = 7) -> str:
    """A CSV of `count` realistic contacts with valid mobile numbers."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["phone", "first_name", "last_name", "email", "language", "tags", "city", "plan", "ltv"]
    )
    seen: set[str] = set()
    countries = [c for c, _ in _SHARE]
    weights = [w for _, w in _SHARE]
    while len(seen) < count:
        country = rng.choices(countries, weights)[0]
        prefixes, language, firsts, lasts = _PEOPLE[country]
        phone = _mobile(rng, rng.choice(prefixes))
        if phone in seen:
            continue
        seen.add(phone)
        first, last = rng.choice(firsts), rng.choice(lasts)
        email = f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}@example.com".lower()
        tags = ";".join(rng.sample(_TAGS, rng.randint(0, 2)))
        writer.writerow(
            [
                phone,
                first,
                last,
                email,
                language,
                tags,
                rng.choice(_CITIES[country]),
                rng.choice(("free", "plus", "pro")),
                f"{rng.uniform(0, 900):.2f}",
            ]
        )
    return out.getvalue()


# Sample people, made up: their "consent" is declared so campaigns can be tried on them.
DEMO_CONSENT = imports.ImportConsent(
    "Demo data: made-up sample contacts who 'opted in' on a demo signup form."
)


async def fill_workspace(session: AsyncSession, actor: Actor, count: int = 300) -> DemoReport:
    """Import `count` sample contacts and spread them over the demo lists."""
    text = sample_csv(count)
    rows = list(csv.DictReader(io.StringIO(text)))
    added: dict[str, int] = {}
    everyone = await imports.import_contacts(session, actor, io.BytesIO(text.encode()))
    for name in LISTS:
        list_id = await _list_named(session, actor, name)
        members = [r for r in rows if _belongs(name, r)]
        subset = io.BytesIO(_as_csv(members).encode())
        report = await imports.import_contacts(
            session, actor, subset, list_id=list_id, consent=DEMO_CONSENT
        )
        added[name] = report.added_to_list
    return DemoReport(everyone.created, everyone.updated, added)


def _belongs(list_name: str, row: dict[str, str]) -> bool:
    if list_name == "VIP customers":
        return "vip" in row["tags"] or float(row["ltv"]) > 600
    if list_name == "Brazil launch":
        return row["phone"].startswith("+55")
    return "newsletter" in row["tags"] or row["plan"] != "free"


def _as_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["phone"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


async def _list_named(session: AsyncSession, actor: Actor, name: str) -> str:
    found = await session.scalar(
        select(ContactList.id).where(
            ContactList.workspace_id == actor.workspace_id,
            func.lower(ContactList.name) == name.lower(),
        )
    )
    if found:
        return found
    return (await lists.create_list(session, actor, name=name)).contact_list.id


def _mobile(rng: random.Random, prefix: str) -> str:
    """A random number under `prefix` that phonenumbers accepts as a valid mobile."""
    region = phonenumbers.region_code_for_country_code(int(_country_code(prefix)))
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    length = len(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    while True:
        digits = "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix)))
        candidate = prefix + digits
        number = phonenumbers.parse(candidate)
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            return candidate


def _country_code(prefix: str) -> str:
    for size in (1, 2, 3):
        code = prefix[1 : 1 + size]
        if phonenumbers.region_code_for_country_code(int(code)) != "ZZ":
            return code
    raise ValueError(f"no country code in {prefix}")


def _ascii(name: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
