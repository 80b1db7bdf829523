"""Opt-out intent in replies longer than a keyword, held to a labeled corpus.

The corpus (data/optout_corpus.tsv) labels each reply `opt_out` (must be caught, as an
opt-out or a flag), `none` (must never be opted out) or `flag_ok` (ambiguous: an opt-out or a
flag is right, a miss is not).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recado.domain.keywords import STANDARD_KEYWORDS, STANDARD_RULES
from recado.domain.optout_intent import Intent, detect_opt_out_intent

CORPUS = Path(__file__).parent / "data" / "optout_corpus.tsv"

# A false opt-out costs a sale; a missed one costs the business money. Harmless replies may be
# flagged now and then, never opted out.
MAX_FALSE_OPT_OUTS = 0
MAX_FALSE_FLAG_SHARE = 0.03  # of the none-labeled replies
MIN_RECALL = 0.95  # opt_out-labeled replies detected as opt_out or flag
MIN_AUTO_RECALL = 0.9  # opt_out-labeled replies opted out without a person
MIN_AMBIGUOUS_CAUGHT = 0.9  # flag_ok-labeled replies detected as opt_out or flag
MIN_REPLIES = 300
MIN_REPLIES_PER_LANGUAGE = 80


def _corpus() -> list[tuple[str, str, str]]:
    with CORPUS.open(encoding="utf-8", newline="") as file:
        rows = csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["label"], row["language"], row["text"]) for row in rows]


REPLIES = _corpus()


def _verdicts(label: str) -> list[tuple[str, Intent]]:
    return [(text, detect_opt_out_intent(text)) for kind, _, text in REPLIES if kind == label]


def test_the_corpus_is_large_labeled_and_in_three_languages() -> None:
    assert len(REPLIES) >= MIN_REPLIES
    assert {label for label, _, _ in REPLIES} == {"opt_out", "none", "flag_ok"}
    per_language = Counter(language for _, language, _ in REPLIES)
    assert set(per_language) == {"en", "pt", "es"}
    assert min(per_language.values()) >= MIN_REPLIES_PER_LANGUAGE
    duplicates = [text for text, count in Counter(t for _, _, t in REPLIES).items() if count > 1]
    assert duplicates == []


def test_no_harmless_reply_in_the_corpus_is_opted_out() -> None:
    wrong = [(text, i.reason) for text, i in _verdicts("none") if i.verdict == "opt_out"]
    assert len(wrong) <= MAX_FALSE_OPT_OUTS, wrong


def test_harmless_replies_are_rarely_flagged() -> None:
    verdicts = _verdicts("none")
    flagged = [(text, i.reason) for text, i in verdicts if i.verdict == "flag"]
    assert len(flagged) <= MAX_FALSE_FLAG_SHARE * len(verdicts), flagged


def test_opt_out_replies_in_the_corpus_are_caught() -> None:
    verdicts = _verdicts("opt_out")
    missed = [text for text, intent in verdicts if intent.verdict == "none"]
    assert 1 - len(missed) / len(verdicts) >= MIN_RECALL, missed
    flagged = [text for text, intent in verdicts if intent.verdict == "flag"]
    assert 1 - (len(missed) + len(flagged)) / len(verdicts) >= MIN_AUTO_RECALL, flagged


def test_ambiguous_replies_reach_a_person() -> None:
    verdicts = _verdicts("flag_ok")
    missed = [text for text, intent in verdicts if intent.verdict == "none"]
    assert 1 - len(missed) / len(verdicts) >= MIN_AMBIGUOUS_CAUGHT, missed


@pytest.mark.parametrize(
    "text",
    [
        "please stop texting me",
        "não quero mais receber mensagens",
        "remove me from this list",
        "unsubscribe me",
        "para de me mandar mensagem",
        "no me manden más mensajes",
        "who is this? stop",
        "STOP!!! how did you get my number",
    ],
)
def test_a_plain_request_to_stop_texting_is_an_opt_out(text: str) -> None:
    assert detect_opt_out_intent(text).verdict == "opt_out"


# The harmless replies of the issue, each decided, with why.
@pytest.mark.parametrize(
    "text",
    [
        "don't stop the deals!",  # negated: wants more
        "I'll stop by tomorrow",  # "stop by" is a visit
        "can't stop smiling",  # "can't stop" describes, does not ask
        "what time do you stop serving?",  # "stop" with a subject: a question about hours
        "Nonstop fun!",
        "non-stop deals",
        "o ônibus para aqui?",  # "para" with a subject: "does the bus stop here?"
        "ALTO descuento!",  # ALTO is a keyword alone; before a noun it is "big"
        "pare de brincadeira kkk",  # idiom for "you're kidding!", delight at the offer
        "não pare de mandar promoções",  # negated imperative: wants more
        "no pares de mandar ofertas",
        "Quero cancelar meu pedido",  # an order, not the texts
        "me tira uma dúvida: entregam no sábado?",  # "me tira uma dúvida" asks a question
    ],
)
def test_a_harmless_mention_of_a_keyword_is_not_an_opt_out(text: str) -> None:
    assert detect_opt_out_intent(text).verdict == "none"


def test_stop_in_a_joke_is_only_flagged() -> None:
    # "Stop it 😂" reacts to low prices; a person reads it instead of losing the contact.
    assert detect_opt_out_intent("Stop it 😂 these prices are crazy").verdict == "flag"
    assert detect_opt_out_intent("stop texting me lol").verdict == "flag"


@pytest.mark.parametrize(
    "text", ["STOPPP", "Stooop!", "saiiir", "BAJAAA", "STOP STOP STOP", "ok stop", "Alto ya"]
)
def test_a_stretched_or_repeated_keyword_is_an_opt_out(text: str) -> None:
    intent = detect_opt_out_intent(text)
    assert intent.verdict == "opt_out"
    assert intent.reason == "opt-out keyword in a clause"


def test_a_keyword_asked_as_a_question_in_a_longer_reply_is_only_flagged() -> None:
    # "¿Baja? ¿A cuánto?" asks whether the price drops.
    assert detect_opt_out_intent("¿Baja? ¿A cuánto?").verdict == "flag"
    # Alone it is the keyword, question mark or not.
    assert detect_opt_out_intent("Baja?").verdict == "opt_out"


@pytest.mark.parametrize(
    "text",
    [
        "not interested",
        "No thanks",
        "how did you get my number?",
        "I never signed up for this",
        "não tenho interesse",
        "no me interesa",
        "¿Cómo consiguieron mi número?",
    ],
)
def test_a_probable_opt_out_is_flagged_for_a_person(text: str) -> None:
    assert detect_opt_out_intent(text).verdict == "flag"


@pytest.mark.parametrize(
    ("text", "reason"),
    [("YES", "confirm/opt_in keyword"), ("HELP", "help keyword"), ("Sim", "confirm keyword")],
)
def test_other_keywords_are_not_opt_outs(text: str, reason: str) -> None:
    intent = detect_opt_out_intent(text)
    assert (intent.verdict, intent.reason, intent.phrase) == ("none", reason, text.upper())


def test_the_intent_says_why_and_which_phrase_decided() -> None:
    intent = detect_opt_out_intent("Hi, can you please take me off your list? Thanks")
    assert intent == Intent("opt_out", "asks to be removed", "take me off", ("en",))
    keyword = detect_opt_out_intent("Cancelar!")
    assert keyword == Intent("opt_out", "opt-out keyword", "CANCELAR", ("pt", "es"))


def test_workspace_opt_out_words_count_inside_longer_replies() -> None:
    rules = STANDARD_RULES.with_extra({"opt_out": {"pt": ["CHEGA"]}})
    assert detect_opt_out_intent("Chega!", rules).verdict == "opt_out"
    assert detect_opt_out_intent("quem é? chega", rules).verdict == "opt_out"
    assert detect_opt_out_intent("quem é? chega").verdict == "flag"  # standard: only probable


_OPT_OUT_WORDS = sorted({word for ws in STANDARD_KEYWORDS["opt_out"].values() for word in ws})


@given(
    st.sampled_from(_OPT_OUT_WORDS),
    st.sampled_from(["", "who is this? ", "Quem é? ", "¿Quién es? ", "No. "]),
    st.sampled_from(["", "!!!", " 🙏", " please", ", thanks", " por favor", " ya"]),
    st.booleans(),
)
def test_a_standard_opt_out_keyword_is_an_opt_out_in_any_dress(
    word: str, before: str, after: str, lower: bool
) -> None:
    text = f"{before}{word.lower() if lower else word}{after}"
    assert detect_opt_out_intent(text).verdict == "opt_out"


@given(st.text(max_size=400))
def test_any_text_gets_a_verdict(text: str) -> None:
    intent = detect_opt_out_intent(text)
    assert intent.verdict in ("opt_out", "flag", "none")
    assert (intent.verdict == "none") or intent.reason
