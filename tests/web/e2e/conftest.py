"""End-to-end fixtures: the real app under uvicorn, and Debian's Chromium driven by Playwright.

One server (fresh SQLite database, built-in simulator, workers on) and one browser serve all
the browser tests; each test opens its own browser context, so cookies never leak between
tests. Both are module-scoped (the browser tests are one module): they stop before the rest of
the suite runs, since Playwright's sync API holds an event loop in the main thread.
Playwright downloads no browser: it launches /usr/bin/chromium (`make test` installs it).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from recado.api.app import create_app
from recado.db.migrate import upgrade
from recado.platform import Platform
from recado.services.workspaces import create_workspace
from recado.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
OWNER_EMAIL = "owner@acme.test"
OWNER_PASSWORD = "owner-password-1"


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class LiveServer:
    url: str
    settings: Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`recado serve` as a user runs it, on a free port, in a background thread."""
    folder = tmp_path_factory.mktemp("live")
    port = _free_port()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{folder / 'recado.db'}",
        data_dir=folder,
        host="127.0.0.1",
        port=port,
        simulator_delivery_delay_seconds=0.2,
        dispatch_idle_seconds=0.05,
        _env_file=None,  # type: ignore[call-arg]
    )

    async def bootstrap() -> None:
        platform = Platform(settings)
        try:
            async with platform.sessions() as session:
                await create_workspace(
                    session,
                    name="Loja da Maria Conceição & Filhos Comércio de Presentes Ltda",
                    owner_email=OWNER_EMAIL,
                    owner_password=OWNER_PASSWORD,
                )
        finally:
            await platform.close()

    # In a thread of its own: Playwright's sync API runs an event loop in this one.
    def prepare() -> None:
        upgrade(settings.database_url)
        asyncio.run(bootstrap())

    setup = threading.Thread(target=prepare)
    setup.start()
    setup.join()
    app = create_app(Platform(settings), start_workers=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the app did not start under uvicorn")
        threading.Event().wait(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", settings)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One Chromium for all the browser tests."""
    if not CHROMIUM.exists():
        _unavailable(
            f"The browser tests need Chromium at {CHROMIUM}: install it with "
            "`sudo apt-get install -y chromium` (`make test` does it for you)."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable(
            "The browser tests need Playwright for Python: `.venv/bin/pip install -e '.[test]'`."
        )
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(scope="session")
def screenshots(pytestconfig: pytest.Config) -> Path:
    folder = pytestconfig.rootpath / "test-artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) at laptop size."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD) -> None:
    """Sign in with the keyboard only: the email field has the focus, Tab, Enter."""
    page.goto("/")
    page.wait_for_url("**/app/sign-in")
    from playwright.sync_api import expect  # noqa: PLC0415  (installed with the test extras)

    # The page puts the focus there itself; keys typed before it does would be lost.
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/app/dashboard")
