"""Precision and recall of the opt-out intent detector over the labeled corpus.

Reads tests/domain/data/optout_corpus.tsv (label, language, text, note), where a label is
`opt_out` (must be caught), `none` (must not be opted out) or `flag_ok` (either an opt-out
or a flag is right). Prints the replies it got wrong, then, as its last line, one JSON
object:

- precision: of the replies it opted out, the share labeled opt_out or flag_ok;
- recall: of the opt_out replies, the share it opted out or flagged;
- auto_recall: of the opt_out replies, the share it opted out without a person;
- flag_precision: of the replies it flagged, the share labeled opt_out or flag_ok;
- false_opt_outs / false_flags: none replies it opted out / flagged;
- flag_ok_missed: flag_ok replies it let through as none;
- us_per_reply: mean CPU time of one detection, keyword match included.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

from recado.domain.optout_intent import detect_opt_out_intent

CORPUS = Path(__file__).resolve().parent.parent / "tests/domain/data/optout_corpus.tsv"


@dataclass(frozen=True)
class Reply:
    label: str
    language: str
    text: str
    note: str


def load_corpus(path: Path = CORPUS) -> list[Reply]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            Reply(row["label"], row["language"], row["text"], row["note"] or "") for row in rows
        ]


def measure(replies: list[Reply], rounds: int = 20) -> dict[str, object]:
    verdicts = [detect_opt_out_intent(reply.text).verdict for reply in replies]
    pairs = list(zip((reply.label for reply in replies), verdicts, strict=True))
    wanted = {"opt_out", "flag_ok"}
    opted_out = [label for label, verdict in pairs if verdict == "opt_out"]
    flagged = [label for label, verdict in pairs if verdict == "flag"]
    must_catch = [verdict for label, verdict in pairs if label == "opt_out"]
    started = time.process_time()  # CPU time: other processes on the host do not count
    for _ in range(rounds):
        for reply in replies:
            detect_opt_out_intent(reply.text)
    elapsed = time.process_time() - started
    return {
        "replies": len(replies),
        "opt_out_labeled": len(must_catch),
        "none_labeled": sum(label == "none" for label, _ in pairs),
        "flag_ok_labeled": sum(label == "flag_ok" for label, _ in pairs),
        "precision": _ratio(sum(label in wanted for label in opted_out), len(opted_out)),
        "recall": _ratio(sum(verdict != "none" for verdict in must_catch), len(must_catch)),
        "auto_recall": _ratio(sum(verdict == "opt_out" for verdict in must_catch), len(must_catch)),
        "flag_precision": _ratio(sum(label in wanted for label in flagged), len(flagged)),
        "false_opt_outs": opted_out.count("none"),
        "false_flags": flagged.count("none"),
        "flag_ok_missed": sum(label == "flag_ok" and v == "none" for label, v in pairs),
        "us_per_reply": round(elapsed / (rounds * len(replies)) * 1e6, 1),
    }


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--all", action="store_true", help="print every reply, not only misses")
    args = parser.parse_args()
    replies = load_corpus(args.corpus)
    for reply in replies:
        intent = detect_opt_out_intent(reply.text)
        right = {
            "opt_out": intent.verdict != "none",
            "flag_ok": intent.verdict != "none",
            "none": intent.verdict == "none",
        }[reply.label]
        if args.all or not right or (reply.label == "opt_out" and intent.verdict == "flag"):
            mark = "ok  " if right else "MISS"
            print(f"{mark} {reply.label:8} -> {intent.verdict:8} {reply.text!r}  [{intent.reason}]")
    print(json.dumps(measure(replies)))


if __name__ == "__main__":
    main()
