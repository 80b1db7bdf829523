"""The benches keep working: each runs at a tiny size and its last line carries its checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"


def last_json_line(script: str, *options: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *options],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_dispatch_bench_delivers_every_queued_message_exactly_once() -> None:
    result = last_json_line("dispatch_smpp.py", "--messages", "40")
    assert result["delivered"] == 40
    assert result["duplicates"] == 0
    assert result["smsc_submits"] == 40
    assert result["recado_messages_per_s"] > 0
    assert result["raw_messages_per_s"] > 0


def test_api_bench_finds_one_stored_message_per_accepted_request() -> None:
    result = last_json_line(
        "api_accept.py",
        "--seconds",
        "1",
        "--clients",
        "2",
        "--warmup",
        "0.5",
        "--workers",
        "off",
        "--pool",
        "100",
    )
    assert result["errors"] == 0
    assert result["accepted_total"] > 0
    assert result["stored_matches_accepted"]
