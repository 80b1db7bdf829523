"""Time the per-recipient work of a campaign: render, shorten the link, count the parts.

For each of N messages (default 1,000,000) on ONE core and without a database: render a
personalized template (`MessageTemplate.render`), replace its URL by a tracked short link
(`services.links.prepare_links`, the campaign's bulk form) and find its encoding and parts
(`domain.encoding.analyze`) on the text as sent, with the short link. Contacts have varied
names, English, Spanish and Portuguese, accented or not, some missing (the template's
default applies).

    .venv/bin/python bench/render.py                    # 1,000,000 messages
    .venv/bin/python bench/render.py --messages 100000

The last line printed is one JSON object with the measured numbers. Its `seconds` and
`messages_per_s` count this process's CPU time, pinned to one core, so that other programs
on a shared machine do not distort them; `wall_seconds` is the elapsed time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from recado.domain.encoding import analyze
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
    print(f"cpu {cpu}, load average {os.getloadavg()[0]:.2f} (other programs on the machine)")
    print(f"wall {result['seconds']:.1f} s, process CPU {result['cpu_seconds']:.1f} s")
    print(f"render  {result['render_us']:7.2f} us/message")
    print(f"link    {result['link_us']:7.2f} us/message")
    print(f"encode  {result['encode_us']:7.2f} us/message; per text (us): ", end="")
    print(", ".join(f"{k} {v:.1f}" for k, v in result["encode_us_by_encoding"].items()))
    print("texts   " + ", ".join(f"{k} {v:.0%}" for k, v in result["share_by_encoding"].items()))
    print(f"parts   {result['segments']}")
    print(f"stages  {per_message:.2f} us/message ({1e6 / per_message:,.0f}/s)")
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
            }
        )
    )


if __name__ == "__main__":
    main()
