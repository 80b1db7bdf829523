"""The answers to STOP, START and HELP, and the double opt-in question, in each language.

Carriers expect one confirmation per keyword, with no marketing content, naming the program.
Workspaces may replace any text per language; `{program}`, `{contact}` and `{list}` are
filled in. A language without a text falls back to English.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ReplyKind(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    CONFIRM_REQUEST = "confirm_request"  # "Reply YES to confirm", the double opt-in question
    CONFIRMED = "confirmed"  # the answer to that YES, when the list has no welcome text


DEFAULT_REPLIES: Mapping[ReplyKind, Mapping[str, str]] = {
    ReplyKind.OPT_OUT: {
        "en": "{program}: You are unsubscribed and will get no more messages. "
        "Reply START to subscribe again.",
        "pt": "{program}: Você foi descadastrado e não receberá mais mensagens. "
        "Responda VOLTAR para se inscrever de novo.",
        "es": "{program}: Te has dado de baja y no recibirás más mensajes. "
        "Responde ALTA para suscribirte de nuevo.",
    },
    ReplyKind.OPT_IN: {
        "en": "{program}: You are subscribed again. Msg&data rates may apply. "
        "Reply HELP for help, STOP to opt out.",
        "pt": "{program}: Sua inscrição foi reativada. Podem ser cobradas tarifas de mensagens "
        "e dados. Responda AJUDA para ajuda, SAIR para cancelar.",
        "es": "{program}: Tu suscripción está activa de nuevo. Pueden aplicarse tarifas de "
        "mensajes y datos. Responde AYUDA para ayuda, BAJA para cancelar.",
    },
    ReplyKind.HELP: {
        "en": "{program}: Help at {contact}. Msg&data rates may apply. Reply STOP to opt out.",
        "pt": "{program}: Ajuda em {contact}. Podem ser cobradas tarifas de mensagens e dados. "
        "Responda SAIR para cancelar.",
        "es": "{program}: Ayuda en {contact}. Pueden aplicarse tarifas de mensajes y datos. "
        "Responde BAJA para cancelar.",
    },
    ReplyKind.CONFIRM_REQUEST: {
        "en": "{program}: Reply YES to confirm you want texts from {list}. "
        "Msg&data rates may apply. Reply STOP to opt out.",
        "pt": "{program}: Responda SIM para confirmar que quer receber mensagens de {list}. "
        "Podem ser cobradas tarifas de mensagens e dados. Responda SAIR para cancelar.",
        "es": "{program}: Responde SI para confirmar que quieres recibir mensajes de {list}. "
        "Pueden aplicarse tarifas de mensajes y datos. Responde BAJA para cancelar.",
    },
    ReplyKind.CONFIRMED: {
        "en": "{program}: Thanks, you are subscribed to {list}. Reply HELP for help, "
        "STOP to opt out.",
        "pt": "{program}: Obrigado, sua inscrição em {list} foi confirmada. Responda AJUDA "
        "para ajuda, SAIR para cancelar.",
        "es": "{program}: Gracias, tu suscripción a {list} está confirmada. Responde AYUDA "
        "para ayuda, BAJA para cancelar.",
    },
}


def base_language(tag: str | None) -> str | None:
    """'pt-BR' -> 'pt'; None stays None."""
    return tag.split("-")[0].split("_")[0].lower() if tag else None


def reply_text(
    kind: ReplyKind,
    languages: tuple[str | None, ...],
    *,
    program: str,
    contact: str,
    list_name: str = "",
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The text for `kind` in the first of `languages` that has one, else English.

    `overrides` maps a kind's value to {language: text}; a workspace's own text wins.
    """
    own = (overrides or {}).get(kind.value, {})
    standard = DEFAULT_REPLIES[kind]
    for tag in (*languages, "en"):
        language = base_language(tag)
        if language is None:
            continue
        template = own.get(language) or standard.get(language)
        if template:
            return (
                template.replace("{program}", program)
                .replace("{contact}", contact)
                .replace("{list}", list_name or program)
            )
    raise AssertionError("English is always there")  # pragma: no cover
