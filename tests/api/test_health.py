"""/healthz, /readyz and /metrics: what an operator's probes and Prometheus see."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from recado.api.app import create_app
from recado.platform import Platform
from recado.settings import Settings


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(
    params=["sqlite-missing-folder", "postgresql-closed-port"],
    ids=["sqlite-missing-folder", "postgresql-closed-port"],
)
async def unreachable_db(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """An app on a Platform whose database cannot be reached."""
    if request.param == "sqlite-missing-folder":
        url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'recado.db'}"
    else:
        url = f"postgresql+psycopg://recado@127.0.0.1:{_closed_port()}/recado?connect_timeout=3"
    settings = Settings(database_url=url, data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    platform = Platform(settings)
    app = create_app(platform, start_workers=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://recado.test"
    ) as api:
        yield api
    await platform.close()


def accepted_total(metrics_text: str, category: str) -> float:
    """The value of recado_messages_accepted_total for one category (0 before the first)."""
    pattern = rf'^recado_messages_accepted_total\{{category="{category}"\}} (\S+)$'
    found = re.search(pattern, metrics_text, re.MULTILINE)
    return float(found[1]) if found else 0.0


async def test_healthz_answers_while_the_process_is_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Authorization": ""})

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz", headers={"Authorization": ""})

    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["checks"]["database"] == "ok"


async def test_readyz_is_503_with_the_reason_when_the_database_is_unreachable(
    unreachable_db: httpx.AsyncClient,
) -> None:
    response = await unreachable_db.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"].startswith("unreachable: ")
    assert "OperationalError" in body["checks"]["database"]
    # Liveness does not depend on the database: the process itself is fine.
    assert (await unreachable_db.get("/healthz")).status_code == 200


async def test_metrics_count_an_accepted_message_in_prometheus_text(
    client: httpx.AsyncClient,
) -> None:
    before = accepted_total((await client.get("/metrics")).text, "transactional")

    sent = await client.post("/v1/messages", json={"to": "+14157234567", "body": "Hello"})
    assert sent.status_code == 202
    response = await client.get("/metrics", headers={"Authorization": ""})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE recado_messages_accepted_total counter" in response.text
    assert accepted_total(response.text, "transactional") == before + 1


async def test_an_idempotent_replay_is_not_counted_again(client: httpx.AsyncClient) -> None:
    payload = {"to": "+14157234567", "body": "Your code is 1234"}
    headers = {"Idempotency-Key": "metrics-1"}
    await client.post("/v1/messages", json=payload, headers=headers)
    before = accepted_total((await client.get("/metrics")).text, "transactional")

    replay = await client.post("/v1/messages", json=payload, headers=headers)

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert accepted_total((await client.get("/metrics")).text, "transactional") == before
