"""Whether a reply longer than a keyword asks to stop the texts: opt_out, flag or none.

"please stop texting me", "não quero mais receber mensagens", "no me manden más mensajes"
and "who is this? stop" are opt-outs; "don't stop the deals!", "I'll stop by tomorrow",
"o ônibus para aqui?" and "ALTO descuento!" are not. The rules are data, per language:

- `HARMLESS` phrases mention a keyword without asking to stop ("don't stop", "stop by",
  "não pare de", "cancel my order"); they are masked before anything else is read.
- A clause (between . ! ? , or emoji) that is only an opt-out keyword, stretched ("STOPPP")
  or repeated, with polite words or "now" around it, is an opt-out; `CLAUSE_WORDS` adds
  one-word replies that are not keywords ("Para!", "Salir", "remove", "stpo").
- `OPT_OUT_PHRASES` are confident requests; `FLAG_PHRASES` are probable ones ("not
  interested", "how did you get my number") that a person should read.

A missed opt-out costs the business more than a lost sale, so whatever is unclear is
flagged, never dropped: a keyword asked as a question ("¿Baja? ¿A cuánto?") and any opt-out
in a playful reply ("lol", "kkk", 😂, 😍) are flagged, and a last rule flags a verb of
stopping next to a word for the texts. Patterns compile once, at import; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from recado.domain.keywords import (
    POLITE_PHRASES,
    STANDARD_RULES,
    KeywordRules,
    Words,
    fold,
    trim_phrases,
)

Verdict = Literal["opt_out", "flag", "none"]

# Shared pieces of the phrase patterns below, written <name> in a pattern.
_PIECES: Final = {
    "texts": r"(?:texts?|txts?|messages?|messeges?|msgs?|sms|spam|promos?|promotions?|ads"
    r"|advertisements?|marketing|notifications?|alerts?|crap|junk|shit)",
    "texting": r"(?:texting|txting|textin|txtin|texing|messaging|msging|sending|contacting"
    r"|spamming"
    r"|emailing|calling|bothering|harassing|bugging|getting|receiving|recieving"
    r"|hitting me up|blowing up my phone)",
    "number": r"(?:number|phone number|phone|cell|cell number|contact|info|name)",
    "not_pt": r"(?:nao|n|num|naum)",
    "msgs_pt": r"(?:mensage(?:m|ns)|mensagen|msgs?|mgs|sms|torpedos?|promocoes|promocao|promos?"
    r"|propagandas?|anuncios?|spam|ofertas|notificacoes)",
    "send_pt": r"(?:mandar|enviar|mandarem|enviarem|mandando|enviando|encher|perturbar"
    r"|incomodar|ligar|escrever|spammar|spamar|importunar)",
    "list_pt": r"(?:da|dessa|desta|de sua|da sua|do|desse|deste|dos|das|dessas) (?:\w+ )?"
    r"(?:lista|grupo|cadastro|contatos|transmissao|mensage\w*|envios?)",
    "msgs_es": r"(?:mensajes?|msjs?|sms|textos|promos|promociones|publicidad|spam|ofertas"
    r"|notificaciones|correos)",
    "send_es": r"(?:mand|envi|escrib|molest|llam|contact|spame)\w*",
    "list_es": r"(?:de|del) (?:la |esta |esa |su |tu |sus |vuestra |este |ese )?"
    r"(?:lista|base|sistema|listado|grupo|servicio|suscripcion|mensajes|promociones)",
    "stop_any": r"stop|quit|cancel|cancelar|cancela|cancelen|pare|parem|paren|parar|basta"
    r"|deten\w*|remove|remover|remova|tira|tire|tirem|saca\w*|saque\w*|quit[ae]\w*|elimin\w*"
    r"|borr[ae]\w*|unsub\w*|block|bloquear|bloqueia",
    "texts_any": r"texts?|txts?|messages?|msgs?|sms|mensage(?:m|ns)|mensajes?|msjs?|spam|promos"
    r"|promocoes|promociones|propagandas?|publicidad",
    "end": r"(?= [.?,]|$)",  # the end of a clause
    "clause": r"(?:^|(?<=[.?,] ))",  # the start of a clause
}

# Phrases that mention a keyword without asking to stop; masked before the other rules.
HARMLESS: Final[Mapping[str, tuple[str, ...]]] = {
    "en": (
        r"\b(?:please |pls )?(?:dont|do not|dnt)(?: ever)? (?:stop|quit|cancel|end|unsubscribe"
        r"|remove)\b",
        r"\b(?:cant|cannot|can not|couldnt|could not)(?: \w+)? stop\b",
        r"\bstop(?:ped|ping|s)? (?:by|in|over|off|into|at the|at your|at ur)\b",
        r"\b(?:non|bus|pit|one|truck|last|next|first|full|rest|train|subway|metro) stops?\b",
        r"\bstop (?:sign|light|watch|loss|motion)s?\b",
        # Someone else's subscription to something else: "unsubscribe from the soccer camp".
        r"\bunsubscrib\w* (?:\w+ )?from (?:the|his|her|their|our|my) (?!list|texts|messages"
        r"|sms|alerts|promos|mailing)\w+",
        # "stop playing" is "you're kidding": delight at an offer.
        r"\bstop (?:playing|lying|capping|joking|kidding)\b",
        r"\bcancel\w* (?:my |the |this |an |a |our |your )?(?:order|appointment|booking"
        r"|reservation|appt|delivery|payment|purchase|card|table)\b",
    ),
    "pt": (
        # The imperative "não pare de" wants more; the descriptive "não para de" may complain.
        r"\b<not_pt> (?:pare|parem|deixe|deixem) (?:de|com)\b",
        r"\b<not_pt> (?:consigo|da pra|da para|consegue|vou|vamos) parar\b",
        # Idioms for "you're kidding!": delight at an offer, not a request.
        r"\b(?:pare|para|parem|deixa|deixe) de (?:brincadeira|brincar|graca|zoeira|zoar"
        r"|mentira|onda)\b",
        r"\bcancel\w* (?:o |a |meu |minha |um |uma |meus |minhas )?(?:pedido|compra|reserva"
        r"|consulta|agendamento|horario|entrega|pagamento|cartao)\b",
    ),
    "es": (
        r"\bno (?:me |nos )?(?:pares|paren|pare|dejes|dejen|deje|detengas|detengan) (?:de|con)\b",
        r"\bno (?:puedo|podemos|puede) (?:parar|dejar) de\b",
        r"\bcancel\w* (?:mi |el |la |una |un |mis |los |las )?(?:pedido|orden|compra|cita"
        r"|reserva|reservacion|turno|pago|entrega)\b",
    ),
}


@dataclass(frozen=True)
class PhraseRule:
    """A phrase pattern over folded text (no accents, lower case, one space between words,
    "." "?" "," between clauses) and why it means what it means."""

    reason: str
    pattern: str


OPT_OUT_PHRASES: Final[Mapping[str, tuple[PhraseRule, ...]]] = {
    "en": (
        PhraseRule(
            "asks to stop the texts",
            r"\b(?:stop|quit|cease) (?:\w+ ){0,2}?<texting>(?=$| [.,?~]| (?:me|us|my|this|these"
            r"|those|them|that|your|ur|the|all|any|to|stuff|crap|shit|junk|<texts>)\b)",
        ),
        PhraseRule(
            "asks to stop the texts",
            r"\b(?:stop|quit|cease|end|discontinue|halt) (?:all |the |these |those |your |ur "
            r"|this |with the |all the |all these |all your )?<texts>\b",
        ),
        PhraseRule(
            "asks to stop",
            r"<clause>stop (?:it|this|that|all|everything|them|for good|forever)"
            r"(?: already| now| please| pls| plz| ok)*<end>",
        ),
        PhraseRule(
            "asks to stop",
            r"\b(?:can|could|will|would) (?:you|u|ya|yall|you guys|you all) (?:please |pls |just )?"
            r"(?:stop|quit)(?: it| this| that| now| already| please| pls| plz)*<end>",
        ),
        PhraseRule(
            "said stop before",
            r"\b(?:i|ive|i have) (?:already )?(?:said|told you|asked you|asked|typed|texted"
            r"|replied|sent) (?:to )?(?:stop|unsubscribe|remove)\b",
        ),
        PhraseRule(
            "asks to unsubscribe",
            r"\b(?:unsubscrib\w*|unsub|unsubs|unsubcribe|unsuscribe|unsubscibe|unsubsribe"
            r"|unsubscrive|unscribe|unsubscrbe|usubscribe|unsusbcribe|unsubscirbe)\b",
        ),
        PhraseRule("asks to opt out", r"\bopt (?:me |us )?out\b|\boptout\b"),
        PhraseRule(
            "asks to be removed",
            r"\b(?:be|get|getting|being) (?:removed|taken off|unsubscribed|opted out)\b",
        ),
        PhraseRule(
            "asks to be removed",
            r"\bremove (?:me|us|(?:my|this) <number>|(?:me )?from (?:the |this |your |ur )?"
            r"(?:list|mailing list|texts|database))\b",
        ),
        PhraseRule(
            "asks to be removed",
            r"\btake (?:me|us|(?:my|this) <number>) (?:off|out)\b",
        ),
        PhraseRule(
            "asks not to be texted",
            r"\b(?:dont|do not|dnt)(?: ever)? (?:text|txt|message|msg|contact|sms|send|spam"
            r"|bother|hit) (?:me|us|this number|to this number|again|anymore"
            r"|any more|these|this|them)\b",
        ),
        PhraseRule("no more texts", r"\bno more (?:\w+ )?<texts>\b"),
        PhraseRule(
            "does not want the texts",
            r"\b(?:dont|do not|dnt|no longer) (?:want|wish|need|like) (?:to (?:get|receive"
            r"|recieve) )?(?:(?:\w+ ){0,2}?<texts>\b|(?:anymore|any more)<end>)",
        ),
        PhraseRule(
            "asks how to stop",
            r"\b(?:how (?:do|can|to) (?:i |we )?|i want to |i wanna |i would like to |id like to "
            r"|let me |want to )(?:stop|end|cancel|quit) (?:these|this|them|the <texts>|getting"
            r"|receiving|<texts>)\b",
        ),
        PhraseRule(
            "cancels the subscription",
            r"\bcancel (?:my |the |this |these |all |your |ur |all the )?(?:subscriptions?|<texts>"
            r"|list|me|us)\b|\bcancel (?:my|this) <number>\b",
        ),
        PhraseRule(
            "asks to drop the number",
            r"\b(?:lose|delete|erase|forget|remove|drop) (?:my|this) <number>\b",
        ),
        PhraseRule("asks to be left alone", r"\bleave me (?:alone|be)\b"),
        PhraseRule(
            "wants the texts to stop",
            r"\b(?:these|the|your|ur|those|all these|all the|all your) <texts> (?:(?:to|must"
            r"|need to|needs to|have to|has to|gotta|should|got to) (?:stop|end|go away)|gone)\b",
        ),
        PhraseRule("wrong number", r"\bwrong (?:number|person)\b"),
        PhraseRule("enough texts", r"\benough (?:with |of )?(?:the |these |your |ur )?<texts>\b"),
        PhraseRule(
            "asks when the texts stop",
            r"\bwhen (?:will|do|does|are|is) (?:these|the|your|ur|this) (?:texts?|txts?|messages?"
            r"|msgs?|sms|spam) (?:stop|end)\b",
        ),
        PhraseRule("revokes consent", r"\brevoke\b|\bwithdraw (?:my )?consent\b"),
    ),
    "pt": (
        PhraseRule(
            "asks to stop the texts",
            r"\b(?:para|pare|parem|parar|deixa|deixe|deixem) de (?:me |mim |nos |ficar |tanto )?"
            r"<send_pt>(?=$| [.,?~]| (?:me|mim|pra|para|nada|isso|essas?|esses?|tanta|tanto|mais"
            r"|coisas?|o saco|<msgs_pt>)\b)",
        ),
        PhraseRule("asks to stop receiving", r"\b(?:parar|deixar) de receber\b"),
        PhraseRule(
            "said stop before",
            r"\b(?:ja )?(?:falei|pedi|disse|mandei) (?:pra|para|pro|que) (?:vcs |voces |voce |vc )?"
            r"(?:parar|parem|pare|sair|me tirar|me tirarem|descadastrar|remover|me remover)\b",
        ),
        PhraseRule(
            "asks to stop",
            r"\b(?:para|pare|parem) com (?:isso|essas?|esses?|as|os|essa porra)\b",
        ),
        PhraseRule(
            "does not want the texts",
            r"\b<not_pt> (?:quero|qro|quer|queremos|desejo) (?:mais )?(?:(?:receber|essas?|esses?"
            r"|suas?|seus?|as|os|nenhuma|nenhum|mais|isso|de) )*(?:receber|nada|<msgs_pt>|isso"
            r"|contato)\b",
        ),
        PhraseRule("does not want more", r"\b<not_pt> (?:quero|qro) mais<end>"),
        PhraseRule(
            "asks not to be sent texts",
            r"\b<not_pt> (?:me )?(?:mande|mandem|envie|enviem|enviar|mandar|manda mais|envia mais"
            r"|mandam mais|enviam mais|ligue|liguem|perturbe|perturbem|incomode|incomodem"
            r"|escreva|escrevam)\b",
        ),
        PhraseRule(
            "asks to be removed",
            r"\b(?:me (?:tira|tire|tirem|tirar|retira|retire|retirem|retirar)|(?:tira|tire|tirem"
            r"|retira|retire|retirem) (?:eu|me))(?=$| [.,?]| (?:da|dessa|desta|do|desse|deste"
            r"|daqui|dai|disso|de|das|dos)\b)",
        ),
        PhraseRule(
            "asks to be removed",
            r"\bme (?:remove|remova|removam|remover|removem|exclui|exclua|excluam|excluir|deleta"
            r"|delete|deletem|deletar|apaga|apague|apaguem)\b",
        ),
        PhraseRule(
            "asks to drop the number",
            r"\b(?:tira|tire|tirem|tirar|apaga|apague|apaguem|apagar|exclui|exclua|excluam"
            r"|excluir|remove|remova|removam|remover|deleta|delete|deletem|retira|retire|esquece"
            r"|esquecam) (?:o |meu |o meu |esse |este )?(?:numero|contato|telefone|cadastro"
            r"|celular|zap|whats)\b",
        ),
        PhraseRule("asks to unsubscribe", r"\b(?:descad|desinscrev|desassin)\w*"),
        PhraseRule(
            "wants to leave the list",
            r"\b(?:quero|quer|queria|gostaria de|preciso|desejo) (?:me )?(?:sair|descadastrar"
            r"|cancelar|desinscrever)<end>",
        ),
        PhraseRule("wants to leave the list", r"\bsair? <list_pt>\b"),
        PhraseRule(
            "asks not to be sent texts again",
            r"\b<not_pt> (?:me )?(?:volte|voltem) a <send_pt>\b",
        ),
        PhraseRule(
            "cancels the texts",
            r"\bcancel(?:ar|a|e|em) (?:o |a |as |os |minha |meu |essas? |esses? |todas? as )?"
            r"(?:recebimento|<msgs_pt>|inscricao|inscricoes|assinatura|cadastro|isso|tudo|envios?"
            r"|contato|lista)\b",
        ),
        PhraseRule(
            "enough texts",
            r"\bchega de (?:tanta |tantas |tanto |receber |me mandar |mandar |enviar )?"
            r"(?:<msgs_pt>|mandar|enviar)\b",
        ),
        PhraseRule("wrong number", r"\bnumero (?:esta |ta )?errado\b"),
        PhraseRule("asks to be left alone", r"\bme (?:deixa|deixe|deixem) em paz\b"),
    ),
    "es": (
        PhraseRule(
            "asks not to be sent texts",
            r"\bno (?:me |nos )?(?:manden|mandes|mande|envien|envies|envie|escriban|escribas"
            r"|escriba|contacten|contactes|contacte|molesten|molestes|moleste|llamen|llames"
            r"|spameen)\b",
        ),
        PhraseRule(
            "asks to stop the texts",
            r"\b(?:deja|dejen|dejar|dejes|dejad|para|paren|parar|pare) de (?:me )?<send_es>"
            r"(?=$| [.,?~]| (?:me|nos|nada|mas|eso|esto|estos|estas|esos|esas|tantos|tantas"
            r"|cosas|<msgs_es>)\b)",
        ),
        PhraseRule("asks to stop receiving", r"\b(?:dejar|deja|dejen) de recibir\b"),
        PhraseRule(
            "asks to unsubscribe",
            r"\b(?:darme|dame|denme|deme|darse|darte|dadme|darnos|danos|me doy) de baja\b"
            r"|\b(?:dar|den|doy|dan) de baja(?:<end>| (?:mi|este|el|la|los|mis) (?:numero|telefono"
            r"|celular|suscripcion|mensajes|datos)\b| <list_es>)"
            r"|\b(?:quiero|solicito|pido) (?:la|mi) baja\b|\bbaja <list_es>\b"
            r"|\b(?:desuscrib|desinscrib|dessuscrib|desubscrib|desafili)\w*",
        ),
        PhraseRule(
            "cancels the subscription",
            r"\bcancel\w* (?:la |mi |mis |los |las |el |esta |estos |estas |todas las )?"
            r"(?:suscripcion|subscripcion|suscripciones|mensajes|msjs?|sms|promociones|envios?"
            r"|servicio|notificaciones|todo)\b",
        ),
        PhraseRule(
            "asks to be removed",
            r"\b(?:borr|elimin|quit|sac|saqu)\w*(?:me|nos)(?=$| [.,?]| <list_es>)",
        ),
        PhraseRule(
            "asks to drop the number",
            r"\b(?:borren|borra|borrar|borre|elimina|eliminen|eliminar|elimine|quiten|quita"
            r"|quite|quitar|saquen|saca|saque|sacar|olvida|olviden) (?:mi|este|el) (?:numero"
            r"|telefono|celular|contacto|nombre|datos)\b",
        ),
        PhraseRule(
            "does not want the texts",
            r"\b(?:ya )?no (?:quiero|queremos|deseo) (?:(?:mas|seguir|que|me|nos|manden|envien"
            r"|sigan|mandando|enviando|sus|tus|estos|estas|esos|esas|los|las) )*(?:recibir"
            r"|recibiendo|nada|<msgs_es>)\b",
        ),
        PhraseRule(
            "does not want the texts",
            r"\bno (?:quiero|queremos|deseo) que (?:me |nos )?(?:sigan |vuelvan a )?<send_es>",
        ),
        PhraseRule("does not want more", r"\bno (?:quiero|queremos) mas<end>"),
        PhraseRule(
            "asks not to be sent texts again",
            r"\bno (?:me |nos )?(?:vuelvan|vuelvas|vuelva) a <send_es>",
        ),
        PhraseRule(
            "asks to stop the texts",
            r"\b(?:detengan|deten|detener|paren|corten) (?:los |sus |estos |tus "
            r"|el envio de )?<msgs_es>\b",
        ),
        PhraseRule("no more texts", r"\bno mas <msgs_es>\b"),
        PhraseRule(
            "enough texts",
            r"\b(?:ya )?basta de (?:tantos |sus |tus |estos )?(?:<msgs_es>|mandar|enviar"
            r"|molestar)\b",
        ),
        PhraseRule(
            "wrong number",
            r"\bnumero equivocado\b|\bequivocad\w* de (?:numero|persona)\b",
        ),
        PhraseRule(
            "wants to leave the list",
            r"\b(?:quiero|quisiera|deseo|necesito) (?:salir|salirme|cancelar)(?:<end>| <list_es>)"
            r"|\bsalir(?:me)? <list_es>",
        ),
    ),
}

FLAG_PHRASES: Final[Mapping[str, tuple[PhraseRule, ...]]] = {
    "en": (
        PhraseRule(
            "not interested",
            r"\b(?:not|no|nt) (?:really |very |at all )?(?:interested|intrested|interesed)\b",
        ),
        PhraseRule(
            "declines", r"<clause>(?:no|nah|nope)(?: ,)? (?:thanks?|thank (?:you|u)|thx|ty)\b"
        ),
        PhraseRule(
            "asks how they got the number",
            r"\b(?:how|where) (?:did|do|does) (?:you|u|ya|yall|you guys|they) (?:get|got|have"
            r"|find) (?:my|this) <number>|\bwho gave (?:you|u) (?:my|this) <number>",
        ),
        PhraseRule(
            "never signed up",
            r"\b(?:never|didnt|did not|dont remember|do not remember|dont recall) (?:\w+ )?"
            r"(?:sign(?:ed)? up|signing up|subscrib\w*|opt(?:ed)? in|agreed?|consent\w*"
            r"|gave (?:you )?(?:my|permission)|give (?:you )?(?:my|permission))\b",
        ),
        PhraseRule("calls it spam", r"\bspam\w*"),
        PhraseRule("too many texts", r"\b(?:too|so) many <texts>\b"),
        PhraseRule(
            "annoyed",
            r"\b(?:go away|get lost|fuck off|f off|fck off|piss off|screw (?:you|u|off)"
            r"|shut up|annoying|(?:sick|tired) of (?:these|this|your|ur|the|you))\b",
        ),
        PhraseRule("not a customer", r"\bnot (?:your|ur) (?:customer|client)\b"),
        PhraseRule("unfollows", r"\bunfollow\b"),
        PhraseRule("annoyed", r"\b(?:knock it off|cut it out)\b"),
        PhraseRule(
            "complains about the texts",
            r"\bkeep (?:on )?(?:texting|txting|messaging|sending|spamming|contacting|getting "
            r"(?:these|this|your|ur|all these))\b|\bwhy (?:do|are|r) (?:you|u|ya) (?:\w+ )?"
            r"(?:texting|messaging|contacting) me\b",
        ),
        PhraseRule("wants out", r"\b(?:count me out|i want out|get me out)\b|\bim out<end>"),
        PhraseRule(
            "asks not to be called",
            r"\b(?:dont|do not|dnt)(?: ever)? (?:call|email|ring) (?:me|us|this number)\b",
        ),
        PhraseRule(
            "threatens a complaint",
            r"\b(?:harass\w*|report(?:ing)? (?:you|u|this|your)|block(?:ing|ed)? (?:you|u|this"
            r"|your)|sue (?:you|u)|suing|tcpa|lawyer|attorney|do not call)\b",
        ),
        PhraseRule("cancel it", r"\bcancel (?:it|this|that|everything|all)\b"),
        PhraseRule(
            "says it must stop", r"\b(?:need|needs|have|has|got|gotta|better|must) to stop\b"
        ),
        # An imperative "stop ..." that no phrase explains: "stop the madness", "STOP lol".
        PhraseRule(
            "starts with stop",
            r"<clause>(?:stop|stopall|optout)(?: [^.?,]+)?(?= [.,]|$)",
        ),
    ),
    "pt": (
        PhraseRule(
            "not interested",
            r"\b<not_pt> (?:tenho|tem) (?:mais )?interesse\b|\bsem interesse\b"
            r"|\b<not_pt> (?:me )?interessa\b|\bdesinteress\w*",
        ),
        PhraseRule("declines", r"<clause>(?:nao|n)(?: ,)? (?:obrigad[oa]|valeu|vlw|obg)\b"),
        PhraseRule(
            "asks how they got the number",
            r"\bcomo (?:\w+ ){0,2}?(?:conseguiu|conseguiram|pegou|pegaram|arrumou|arrumaram|tem"
            r"|tiveram|obteve|obtiveram|achou|acharam|descobriu|descobriram) (?:o |esse )?"
            r"(?:meu )?(?:numero|contato|telefone|celular|zap|whats)\b"
            r"|\bquem (?:te|lhe|lhes|vos) deu (?:o )?meu (?:numero|contato)\b",
        ),
        PhraseRule(
            "never signed up",
            r"\b(?:<not_pt>|nunca) (?:me )?(?:cadastrei|inscrevi|autorizei|pedi|assinei"
            r"|aceitei)\b",
        ),
        PhraseRule(
            "annoyed",
            r"\b(?:que saco|saco cheio|encheu o saco|enchendo o saco|chato demais|que chato"
            r"|muito chato|chatice|vai se ferrar|vai tomar|vtnc|vsf|vai a merda|vai pra merda"
            r"|sai fora|some daqui|se manca)\b",
        ),
        PhraseRule(
            "complains about the texts",
            r"\b<not_pt> param? de (?:me )?(?:mandar|enviar|chegar) (?:\w+ )?<msgs_pt>\b"
            r"|\btodo (?:santo )?dia (?:\w+ )?<msgs_pt>\b|\b<msgs_pt> todo (?:santo )?dia\b",
        ),
    ),
    "es": (
        PhraseRule(
            "not interested",
            r"\bno (?:me )?interesan?\b|\bno estoy interesad\w*|\bsin interes\b",
        ),
        PhraseRule("declines", r"<clause>no(?: ,)? (?:gracias|grax)\b"),
        PhraseRule(
            "asks how they got the number",
            r"\bcomo (?:\w+ ){0,2}?(?:consiguieron|consiguio|obtuvieron|obtuvo|tienen|tiene"
            r"|sacaron|saco) (?:mi|este) (?:numero|telefono|celular|contacto|cel)\b"
            r"|\bquien (?:les|te|le) dio mi (?:numero|telefono|cel)\b",
        ),
        PhraseRule(
            "never signed up",
            r"\bnunca (?:me )?(?:suscribi|registre|inscribi|autorice|pedi)\w*"
            r"|\bno (?:me )?(?:suscribi|registre|inscribi|autorice)\b",
        ),
        PhraseRule(
            "annoyed",
            r"\b(?:fastidio|que molest\w*|molestan|molestia|hart[oa]s? de|ya basta|ya estuvo"
            r"|que pesad[oa]s?|tantos mensajes)\b",
        ),
    ),
    # Last resort, in any language: a verb of stopping or removing and a word for the texts
    # in the same clause. It misreads "why did the texts stop?", which is why it only flags.
    "*": (
        PhraseRule(
            "mentions stopping the texts",
            r"\b(?:<stop_any>)\b[^.?,]*\b(?:<texts_any>)\b|\b(?:<texts_any>)\b[^.?,]*\b"
            r"(?:<stop_any>)\b",
        ),
    ),
}

# A clause made of one of these (polite words aside) is a request even though it is not a
# keyword: colloquial imperatives and the misspellings of keywords seen in replies.
CLAUSE_WORDS: Final[Mapping[str, Mapping[str, Verdict]]] = {
    "en": {
        **dict.fromkeys(
            ("remove", "stpo", "sotp", "stp", "stopp", "sstop", "cancel all"), "opt_out"
        ),
        **dict.fromkeys(("enough", "enough already", "no more", "unfollow"), "flag"),
    },
    "pt": {
        **dict.fromkeys(("para", "parem", "cancela", "cancele", "descadastro"), "opt_out"),
        **dict.fromkeys(("chega", "chega ne", "sai", "tira"), "flag"),
    },
    "es": {
        **dict.fromkeys(("para", "paren", "salir", "cancela", "cancelen"), "opt_out"),
        **dict.fromkeys(("detente", "detenganse", "deten"), "opt_out"),
        **dict.fromkeys(("basta", "no mas"), "flag"),
    },
}

# Words that do not change what a one-keyword clause means: "ok stop", "STOP NOW", "Alto ya".
FILLERS: Final = POLITE_PHRASES | frozenset(
    tuple(phrase.split())
    for phrase in (
        *("ok", "okay", "okey", "k", "kk", "just", "now", "already", "again", "asap"),
        *("immediately", "right now", "right away", "hi", "hey", "hello", "ja", "agora"),
        *("logo", "oi", "ola", "bom dia", "boa tarde", "boa noite", "ya", "ahora"),
        *("ahora mismo", "ahorita", "hola", "buenos dias", "buenas tardes", "buenas"),
    )
)


@dataclass(frozen=True)
class Intent:
    """What a reply asks for: `opt_out` (confident), `flag` (probably: a person should
    look) or `none`; the reason in words, the part of the (folded) text that decided it, and
    the languages of that rule, a hint for the language of the answer."""

    verdict: Verdict
    reason: str = ""
    phrase: str = ""
    languages: tuple[str, ...] = ()


NO_INTENT: Final = Intent("none")


def detect_opt_out_intent(text: str, rules: KeywordRules = STANDARD_RULES) -> Intent:
    """Whether `text` asks to stop the texts, under the workspace's keyword `rules`."""
    keyword = rules.match(text)
    if keyword is not None:
        if keyword.is_opt_out:
            return Intent("opt_out", "opt-out keyword", keyword.keyword, keyword.languages)
        kinds = "/".join(sorted(keyword.classes))
        return Intent("none", f"{kinds} keyword", keyword.keyword, keyword.languages)
    prepared = _prepare(text)
    masked = _HARMLESS.sub("~", prepared)
    parts = _CLAUSE.split(masked)  # clause, mark, clause, mark ... clause
    clauses = [
        _clause_intent(clause, rules, question=mark == "?")
        for clause, mark in zip(parts[::2], [*parts[1::2], ""], strict=True)
    ]
    playful = _LAUGHTER.search(prepared) is not None or _PLAYFUL_EMOJI.search(text) is not None
    for found in clauses:
        if found is not None and found.verdict == "opt_out":
            return _unless_playful(found, playful)
    match = _OPT_OUT.search(masked)
    if match is not None:
        reason, languages = _OPT_OUT_REASONS[match.lastgroup or ""]
        return _unless_playful(Intent("opt_out", reason, match.group(), languages), playful)
    for found in clauses:
        if found is not None:
            return found
    match = _FLAG.search(masked)
    if match is not None:
        reason, languages = _FLAG_REASONS[match.lastgroup or ""]
        return Intent("flag", reason, match.group(), languages)
    return NO_INTENT


def _unless_playful(intent: Intent, playful: bool) -> Intent:
    # "Stop it 😂 these prices are crazy", "Alto!! 😍": a person tells a joke from a request.
    if playful:
        return Intent("flag", f"{intent.reason}, playful", intent.phrase, intent.languages)
    return intent


def _clause_intent(clause: str, rules: KeywordRules, *, question: bool) -> Intent | None:
    found = _without_fillers(tuple(clause.split()))
    if not found:
        return None
    if len(set(found)) == 1:
        found = found[:1]  # "STOP STOP STOP"
    keyword = rules.lookup(found)
    if keyword is not None and keyword.is_opt_out:
        verdict: Verdict = "opt_out"
        reason, languages = "opt-out keyword in a clause", keyword.languages
    elif " ".join(found) in _CLAUSE_VERDICTS:
        verdict, languages = _CLAUSE_VERDICTS[" ".join(found)]
        reason = "one-word request"
    else:
        return None
    if question:
        # "¿Baja? ¿A cuánto?" asks whether the price drops: a person reads it.
        return Intent("flag", f"{reason}, as a question", clause, languages)
    return Intent(verdict, reason, clause, languages)


def _without_fillers(found: Words) -> Words:
    kept: list[str] = []
    index = 0
    while index < len(found):
        for size in (3, 2, 1):
            if found[index : index + size] in FILLERS:
                index += size
                break
        else:
            kept.append(found[index])
            index += 1
    return trim_phrases(tuple(kept), FILLERS)


def _prepare(text: str) -> str:
    """Folded words separated by one space, with "." "?" "," between clauses."""
    folded = _STRETCHED.sub(r"\1", _APOSTROPHE.sub("", fold(text)))
    spaced = _SKIPPED.sub(" ", _BOUNDARY.sub(" . ", _COMMA.sub(" , ", folded)))
    spaced = _QUESTION.sub(" ? ", spaced)
    return _MARK_RUN.sub(_strongest_mark, " ".join(spaced.split())).strip(" .,")


def _strongest_mark(run: re.Match[str]) -> str:
    # A run of marks keeps the strongest: "?!" is a question, ".," ends a sentence.
    marks = run.group()
    return " ? " if "?" in marks else " . " if "." in marks else " , "


def _compile(
    table: Mapping[str, tuple[PhraseRule, ...]],
) -> tuple[re.Pattern[str], dict[str, tuple[str, tuple[str, ...]]]]:
    alternatives: list[str] = []
    reasons: dict[str, tuple[str, tuple[str, ...]]] = {}
    for language, phrase_rules in table.items():
        for rule in phrase_rules:
            name = f"r{len(alternatives)}"
            alternatives.append(f"(?P<{name}>{_expand(rule.pattern)})")
            reasons[name] = (rule.reason, () if language == "*" else (language,))
    # One leading word boundary lets the engine skip positions inside words at once.
    return re.compile(rf"\b(?:{'|'.join(alternatives)})"), reasons


def _expand(pattern: str) -> str:
    return re.sub(r"<(\w+)>", lambda piece: _PIECES[piece.group(1)], pattern)


def _clause_verdicts() -> dict[str, tuple[Verdict, tuple[str, ...]]]:
    verdicts: dict[str, tuple[Verdict, tuple[str, ...]]] = {}
    for language, words in CLAUSE_WORDS.items():
        for word, verdict in words.items():
            _, known = verdicts.get(word, (verdict, ()))
            verdicts[word] = (verdict, (*known, language))
    return verdicts


_APOSTROPHE: Final = re.compile(r"['’`´]")
_STRETCHED: Final = re.compile(r"([^\W\d_])\1{2,}")  # "stoppp" -> "stop"; "too" stays
_QUESTION: Final = re.compile(r"\?")
_COMMA: Final = re.compile(r"[,:]")
# Sentence ends, and emoji or other symbols that people put where a sentence ends.
_BOUNDARY: Final = re.compile(r"[.!;\n\u2026]|[^\w\s,:?\-\u2013\u2014\"()/*#@&%$+=<>|~^\[\]{}]")
_SKIPPED: Final = re.compile(r"[_\-\u2013\u2014\"()/*#@&%$+=<>|~^\[\]{}]")
_MARK_RUN: Final = re.compile(r"(?: [.?,])+ ?")
_CLAUSE: Final = re.compile(r" ?([.?,]) ?")
_LAUGHTER: Final = re.compile(
    r"\b(?:lol|lolol|lmao|lmfao|rofl|ha(?:ha)+h?|he(?:he)+|ja(?:ja)+|je(?:je)+|k|kk|rs(?:rs)*"
    r"|hue(?:hue)+)\b"
)
# Laughing, winking, heart-eyes, fire and hearts: a reaction to an offer, rarely a request.
_PLAYFUL_EMOJI: Final = re.compile(
    "[\U0001f602\U0001f923\U0001f606\U0001f639\U0001f61c\U0001f61d\U0001f60d\U0001f970"
    "\U0001f929\U0001f525\u2764\U0001f495\U0001f60a]"
)
_HARMLESS: Final = re.compile(
    r"\b(?:"
    + "|".join(f"(?:{_expand(pattern)})" for patterns in HARMLESS.values() for pattern in patterns)
    + ")"
)
_OPT_OUT, _OPT_OUT_REASONS = _compile(OPT_OUT_PHRASES)
_FLAG, _FLAG_REASONS = _compile(FLAG_PHRASES)
_CLAUSE_VERDICTS: Final = _clause_verdicts()
