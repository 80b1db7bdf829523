"""Time the per-recipient work of a campaign: render, shorten the link, count the parts.

For each of N messages (default 1,000,000) on ONE core and without a database: render a
personalized template (`MessageTemplate.render`), replace its URL by a tracked short link
(`services.links.prepare_links`, the campaign's bulk form) and find its encoding and parts
(`domain.encoding.analyze`) on the text as sent, with the short link. Contacts have varied
names, English, Spanish and Portuguese, accented or not, some missing (the template's
default applies).

    .venv/bin/python bench/render.py                    # 1,000,000 messages
    .venv/bin/python bench/render.py --messages 100000

Besides `analyze`, it times a sketch of an `analyze` fast path on the same texts, checked
against `analyze`, to show what the encoding step could cost (see `sketch_parts`).
The last line printed is one JSON object with the measured numbers. Its `seconds` and
`messages_per_s` count this process's CPU time, pinned to one core, so that other programs
on a shared machine do not distort them; `wall_seconds` is the elapsed time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import string
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from recado.domain.encoding import (
    BASIC_TABLE,
    ESCAPE,
    MULTI_PART_CAPACITY,
    SINGLE_PART_CAPACITY,
    analyze,
)
from recado.domain.links import code_stream, link_base
from recado.domain.templates import RenderContext, compile_template
from recado.services.links import prepare_links

TEMPLATE = (
    "Acme: Hi {{ first_name | default('there') }}, 20% off with {{ discount_code }} "
    "at https://acme.com/sale?utm=sms. Reply STOP to opt out"
)
FIRST_NAMES = (
    # English
    *("Emily", "Michael", "Olivia", "Noah", "James", "Ava", "William", "Mia", "Ethan"),
    # Portuguese: some stay GSM-7 (José, André: é is in the alphabet), most go UCS-2
    *("João", "José", "Conceição", "Antônio", "Lúcia", "Inês", "Fábio", "Márcia", "Vitória"),
    *("Ana", "Maria", "André", "Gonçalo", "Sebastião", "Luís", "Cecília", "Thaís"),
    # Spanish
    *("Sofía", "Martín", "Begoña", "Ángel", "Lucía", "Iñaki", "Mateo", "Valentina"),
    # Missing or blank: the template says "there"
    *("", None),
)
CONTACT_POOL = 10_000


def contacts(rng: random.Random) -> list[dict[str, Any]]:
    pool = []
    for i in range(CONTACT_POOL):
        code = "".join(rng.choices(string.ascii_uppercase + string.digits, k=6))
        pool.append(
            {
                "id": f"cnt_{i:08d}",
                "first_name": rng.choice(FIRST_NAMES),
                "language": rng.choice(("en", "pt-BR", "es")),
                "attributes": {"discount_code": code},
            }
        )
    return pool


def run(count: int, seed: int, chunk: int = 1_000) -> dict[str, Any]:
    """Chunk by chunk, as a campaign's fan-out works: render the chunk, then link, then count.

    Each stage is timed in process CPU time, so other programs on the machine do not count;
    the wall time of the whole run is reported beside it.
    """
    rng = random.Random(seed)
    pool = contacts(rng)
    template = compile_template(TEMPLATE)
    base = link_base("go.acme.com", "http://127.0.0.1:8000")
    codes = code_stream()
    cpu = time.process_time
    render_s = link_s = encode_s = 0.0
    count_by: Counter[str] = Counter()
    segments_by: Counter[int] = Counter()
    samples: list[str] = []
    started, cpu_started = time.perf_counter(), cpu()
    for first in range(0, count, chunk):
        batch = range(first, min(first + chunk, count))
        # What a fan-out task has already when it writes links: ids and one time per chunk.
        message_ids = [f"msg_{i:026d}" for i in batch]
        now = datetime.now(UTC)
        t0 = cpu()
        rendered = [
            (i, template.render(RenderContext.of_contact(pool[i % CONTACT_POOL])).text)
            for i in batch
        ]
        t1 = cpu()
        texts = [
            prepare_links(
                text,
                workspace_id="ws_bench",
                message_id=message_id,
                contact_id=pool[i % CONTACT_POOL]["id"],
                campaign_id="cmp_bench",
                base=base,
                codes=codes,
                now=now,
            )[0]
            for message_id, (i, text) in zip(message_ids, rendered, strict=True)
        ]
        t2 = cpu()
        reports = [analyze(text) for text in texts]
        t3 = cpu()
        render_s += t1 - t0
        link_s += t2 - t1
        encode_s += t3 - t2
        count_by.update(report.encoding for report in reports)
        segments_by.update(report.segments for report in reports)
        if len(samples) < CONTACT_POOL:
            samples.extend(texts)
    seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
    encode_by = time_encode_by_encoding(samples)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "render_us": render_s / count * 1e6,
        "link_us": link_s / count * 1e6,
        "encode_us": encode_s / count * 1e6,
        "encode_us_by_encoding": encode_by,
        "share_by_encoding": {name: count_by[name] / count for name in sorted(count_by)},
        "segments": dict(sorted(segments_by.items())),
        "sketch_encode_us": time_sketch(samples),
    }


def time_encode_by_encoding(samples: list[str]) -> dict[str, float]:
    """Microseconds of `analyze` per text, for GSM-7 and UCS-2 texts apart."""
    groups: dict[str, list[str]] = {}
    for text in samples:
        groups.setdefault(analyze(text).encoding, []).append(text)
    timings = {}
    for name, texts in sorted(groups.items()):
        started = time.process_time()
        for text in texts:
            analyze(text)
        timings[name] = (time.process_time() - started) / len(texts) * 1e6
    return timings


# --- a sketch of a fast path for analyze(), for the owner of domain/encoding.py ------------
# Not used by Recado. Two shapes cover nearly every marketing text and need no per-character
# Python loop: all characters in the GSM-7 basic table (one septet each, no escape pairs to
# keep whole), or all below U+0300 (each code point is one UTF-16 unit and one grapheme, so
# parts are plain slices). Everything else would take the general path.
_GSM_BASIC = "".join(c for i, c in enumerate(BASIC_TABLE) if i != ESCAPE)
_NOT_GSM_BASIC = re.compile(f"[^{re.escape(_GSM_BASIC)}]")
_GSM_ALL = _GSM_BASIC + "\f^{}\\[~]|€"
_NOT_GSM = re.compile(f"[^{re.escape(_GSM_ALL)}]")


def sketch_parts(text: str) -> tuple[str, int, int, tuple[str, ...], tuple[str, ...]] | None:
    """(encoding, segments, code units, non-GSM characters, parts), or None: general path."""
    if _NOT_GSM_BASIC.search(text) is None:
        encoding, non_gsm = "GSM-7", ()
    elif text and max(text) < "\u0300" and _NOT_GSM.search(text) is not None:
        encoding, non_gsm = "UCS-2", tuple(dict.fromkeys(_NOT_GSM.findall(text)))
    else:
        return None
    units = len(text)
    if units <= SINGLE_PART_CAPACITY[encoding]:
        return encoding, 1, units, non_gsm, (text,)
    size = MULTI_PART_CAPACITY[encoding]
    parts = tuple(text[i : i + size] for i in range(0, units, size))
    return encoding, len(parts), units, non_gsm, parts


def time_sketch(samples: list[str]) -> float:
    """Microseconds per text of `sketch_parts`, after checking it against `analyze`."""
    for text in samples:
        fast = sketch_parts(text)
        if fast is None:
            continue
        report = analyze(text)
        expected = (report.encoding, report.segments, report.code_units, report.non_gsm)
        if fast[:4] != expected or fast[4] != report.parts:
            raise AssertionError(f"the sketch disagrees with analyze on {text!r}")
    rounds = max(1, 200_000 // len(samples))
    started = time.process_time()
    for _ in range(rounds):
        for text in samples:
            sketch_parts(text)
    return (time.process_time() - started) / (rounds * len(samples)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    # One core: the number is per core, so fan-out workers multiply it.
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    result = run(args.messages, args.seed)
    per_message = result["render_us"] + result["link_us"] + result["encode_us"]
    with_sketch = result["render_us"] + result["link_us"] + result["sketch_encode_us"]
    print(f"cpu {cpu}, load average {os.getloadavg()[0]:.2f} (other programs on the machine)")
    print(f"wall {result['seconds']:.1f} s, process CPU {result['cpu_seconds']:.1f} s")
    print(f"render  {result['render_us']:7.2f} us/message")
    print(f"link    {result['link_us']:7.2f} us/message")
    print(f"encode  {result['encode_us']:7.2f} us/message; per text (us): ", end="")
    print(", ".join(f"{k} {v:.1f}" for k, v in result["encode_us_by_encoding"].items()))
    print("texts   " + ", ".join(f"{k} {v:.0%}" for k, v in result["share_by_encoding"].items()))
    print(f"parts   {result['segments']}")
    print(f"encode with the fast-path sketch: {result['sketch_encode_us']:.2f} us/message")
    print(
        f"per message {per_message:.2f} us ({1e6 / per_message:,.0f}/s); with the sketch "
        f"{with_sketch:.2f} us ({1e6 / with_sketch:,.0f}/s)"
    )
    # Rates and stage times are per second of this process's CPU: one core's worth of work.
    print(
        json.dumps(
            {
                "messages": args.messages,
                "seconds": round(result["cpu_seconds"], 3),
                "messages_per_s": round(args.messages / result["cpu_seconds"]),
                "render_us": round(result["render_us"], 3),
                "encode_us": round(result["encode_us"], 3),
                "link_us": round(result["link_us"], 3),
                "wall_seconds": round(result["seconds"], 3),
                "encode_sketch_us": round(result["sketch_encode_us"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
