"""Fixtures: every database test runs twice, on SQLite and on PostgreSQL, through real services.

PostgreSQL comes from RECADO_TEST_POSTGRES_URL (default: the local server, database `test`).
Each test session creates its own database there and drops it at the end. When CI=true a
missing PostgreSQL fails the run; elsewhere those tests skip and say how to enable them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text

from recado.api.app import create_app
from recado.db.migrate import upgrade
from recado.db.tables import Base
from recado.platform import Platform
from recado.services.workspaces import NewWorkspace, create_workspace
from recado.settings import Settings

POSTGRES_URL = os.environ.get(
    "RECADO_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashing() -> Iterator[None]:
    """Argon2 with test-sized cost: the same algorithm and checks, a fraction of the time."""
    from argon2 import PasswordHasher

    from recado.services import credentials

    production = credentials._hasher
    credentials._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    credentials._hasher = production


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    try:
        admin = psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        message = (
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc}). Start PostgreSQL or set "
            "RECADO_TEST_POSTGRES_URL=postgresql+psycopg://user@host:port/db to run these tests."
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"recado_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    url = f"{base}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "recado.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path,
        simulator_delivery_delay_seconds=0.0,
        dispatch_idle_seconds=0.05,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    the_platform = Platform(settings)
    yield the_platform
    await the_platform.close()


@pytest.fixture
async def workspace(platform: Platform) -> NewWorkspace:
    async with platform.sessions() as session:
        return await create_workspace(session, name="Acme", owner_email="owner@acme.test")


@pytest.fixture
async def other_workspace(platform: Platform) -> NewWorkspace:
    async with platform.sessions() as session:
        return await create_workspace(session, name="Rival", owner_email="owner@rival.test")


@pytest.fixture
async def client(platform: Platform, workspace: NewWorkspace) -> AsyncIterator[httpx.AsyncClient]:
    """An API client authenticated as the owner of the `workspace` fixture (no workers)."""
    app = create_app(platform, start_workers=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://recado.test",
        headers={"Authorization": f"Bearer {workspace.api_key}"},
    ) as api:
        yield api


@pytest.fixture
async def running(platform: Platform) -> AsyncIterator[Platform]:
    """The platform with its dispatcher and simulator running, as under `make run`."""
    await platform.start_workers()
    yield platform


@pytest.fixture
def scalar(platform: Platform):  # type: ignore[no-untyped-def]
    """Run one SQL query straight on the database and return its single value."""

    async def run(sql: str, **params: object) -> object:
        async with platform.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar_one()

    return run


class Receiver:
    """A real HTTP server on loopback that records what is POSTed to it (webhook receivers)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers to give, in order; 200 once they run out
        self.url = ""

    async def app(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append((scope["path"], headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    import asyncio

    import uvicorn

    target = Receiver()
    server = uvicorn.Server(
        uvicorn.Config(
            target.app,
            host="127.0.0.1",
            port=0,
            log_level="error",
            lifespan="off",
            interface="asgi3",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    target.url = f"http://127.0.0.1:{port}"
    yield target
    server.should_exit = True
    await task
