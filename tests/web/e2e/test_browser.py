"""The UI in a real browser: sign in, import contacts, change a setting, what a viewer sees, and a
send from the developer page. Each test saves screenshots of the pages it visits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.e2e.conftest import IN_CI, LiveServer, sign_in

try:
    from playwright.sync_api import expect
except ImportError:
    if IN_CI:
        raise
    pytest.skip(
        "The browser tests need Playwright for Python: `.venv/bin/pip install -e '.[test]'`.",
        allow_module_level=True,
    )

CSV = (
    "telefone,nome,sobrenome,tags,loja\n"
    "+14157231001,Ana,Souza,vip,Centro\n"
    "+14157231002,Maria da Conceição,de Albuquerque Cavalcanti Figueiredo,,Zona Sul\n"
    "12,Bruno,Lima,,\n"
    "+14157231003,José,Gonçalves,vip,Centro\n"
)


def test_the_owner_signs_in_with_the_keyboard_and_sees_the_dashboard_charts(
    page: Any, chromium: Any, live_server: LiveServer, screenshots: Path
) -> None:
    sign_in(page)

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#chart-sending")).to_have_attribute("data-drawn", "true")
    expect(page.locator("#chart-responses")).to_have_attribute("data-drawn", "true")
    expect(page.get_by_text("● Connected")).to_be_visible()
    page.screenshot(path=screenshots / "dashboard.png", full_page=True)

    phone = chromium.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    small = phone.new_page()
    sign_in(small)
    overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    small.screenshot(path=screenshots / "dashboard-phone.png", full_page=True)
    phone.close()
    assert overflow <= 0, "the page scrolls sideways on a phone"


def test_a_csv_import_shows_progress_then_the_contacts(page: Any, screenshots: Path) -> None:
    sign_in(page)
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.get_by_role("link", name="Import a CSV file").click()
    page.get_by_label("CSV file").set_input_files(
        {"name": "clientes.csv", "mimeType": "text/csv", "buffer": CSV.encode()}
    )
    page.screenshot(path=screenshots / "import-form.png", full_page=True)
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_text("Import finished")).to_be_visible()
    rejected = page.locator("#rejected-rows tbody tr")
    expect(rejected).to_have_count(1)
    expect(rejected.first.locator("td").first).to_have_text("4")
    page.screenshot(path=screenshots / "import-report.png", full_page=True)

    page.get_by_role("link", name="See the contacts").click()
    expect(
        page.get_by_role("link", name="Maria da Conceição de Albuquerque Cavalcanti Figueiredo")
    ).to_be_visible()
    page.get_by_label("Tag").fill("vip")
    page.get_by_label("Tag").press("Enter")
    expect(page.get_by_role("link", name="José Gonçalves")).to_be_visible()
    expect(page.get_by_role("link", name="Maria da Conceição", exact=False)).to_have_count(0)
    page.screenshot(path=screenshots / "contacts.png", full_page=True)

    page.get_by_role("link", name="Ana Souza").click()
    expect(page.get_by_role("cell", name="Centro")).to_be_visible()
    page.screenshot(path=screenshots / "contact.png", full_page=True)


def test_a_compliance_setting_is_changed_and_kept(page: Any, screenshots: Path) -> None:
    sign_in(page)
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Brand name").fill("Loja da Maria")
    page.get_by_label("Send from").fill("09:30")
    page.get_by_label("Until").fill("20:00")
    page.get_by_label("Marketing texts per contact at most").fill("2")
    page.get_by_role("button", name="Save settings").click()

    expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Brand name")).to_have_value("Loja da Maria")
    expect(page.get_by_label("Send from")).to_have_value("09:30")
    expect(page.get_by_label("Marketing texts per contact at most")).to_have_value("2")
    page.screenshot(path=screenshots / "settings.png", full_page=True)
    page.get_by_role("link", name="Senders & carriers").click()
    expect(page.get_by_role("heading", name="Carrier connections")).to_be_visible()
    page.screenshot(path=screenshots / "settings-carriers.png", full_page=True)

    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Key name").fill("Loja virtual")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("Your new API key")
    expect(key).to_have_value(re.compile(r"^rk_"))
    page.screenshot(path=screenshots / "settings-api-keys.png", full_page=True)
    page.goto("/app/settings/api-keys")
    expect(page.get_by_label("Your new API key")).to_have_count(0)


def test_a_viewer_added_by_the_owner_does_not_see_settings(
    page: Any, chromium: Any, live_server: LiveServer, screenshots: Path
) -> None:
    sign_in(page)
    page.goto("/app/settings/users")
    page.get_by_label("Email").fill("vera.viewer@acme.test")
    page.get_by_label("Password").fill("viewer-password-1")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_text("vera.viewer@acme.test can now sign in as viewer.")).to_be_visible()
    page.screenshot(path=screenshots / "settings-users.png", full_page=True)

    context = chromium.new_context(base_url=live_server.url)
    viewer = context.new_page()
    sign_in(viewer, "vera.viewer@acme.test", "viewer-password-1")
    nav = viewer.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Contacts")).to_be_visible()
    expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    viewer.screenshot(path=screenshots / "viewer-dashboard.png", full_page=True)
    response = viewer.goto("/app/settings")
    assert response is not None and response.status == 403
    expect(viewer.get_by_role("heading", name="Not allowed")).to_be_visible()
    context.close()


def test_a_text_sent_from_the_developer_page_is_delivered(page: Any, screenshots: Path) -> None:
    sign_in(page)
    page.get_by_role("link", name="Developers").click()
    page.get_by_label("To").fill("+14157239999")
    page.get_by_label("Text").fill("Seu pedido saiu para entrega")
    expect(page.locator("#snippet-python")).to_contain_text("Seu pedido saiu para entrega")
    expect(page.locator("#snippet-curl")).to_contain_text("+14157239999")
    expect(page.locator("#snippet-node")).to_contain_text("crypto.randomUUID()")
    page.screenshot(path=screenshots / "developers.png", full_page=True)

    page.get_by_role("button", name="Send it now").click()
    expect(page.get_by_text("Message to +14157239999 accepted.")).to_be_visible()
    # The page follows the message by itself until it is final.
    expect(page.locator("#message-status")).to_have_text("delivered")
    expect(page.get_by_text("delivery report: delivered")).to_be_visible()
    page.screenshot(path=screenshots / "message.png", full_page=True)

    page.get_by_role("link", name="Messages", exact=True).click()
    expect(page.get_by_text("Seu pedido saiu para entrega")).to_be_visible()
    page.screenshot(path=screenshots / "messages.png", full_page=True)
    for name, shot in (
        ("Lists", "lists.png"),
        ("Templates", "templates.png"),
        ("Campaigns", "campaigns.png"),
    ):
        page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        page.screenshot(path=screenshots / shot, full_page=True)
    assert re.search(r"/app/campaigns$", page.url)


def test_text_typed_before_the_page_scripts_ran_still_reaches_the_snippets(page: Any) -> None:
    """A fast typist (or a slow network) fills the form before htmx is running: the
    snippets catch up as soon as it runs, instead of showing the example text."""
    held: list[Any] = []
    sign_in(page)
    page.route("**/htmx.min.js", lambda route: held.append(route))  # waits for us
    page.get_by_role("link", name="Developers").click()
    page.get_by_label("Text").fill("Typed before the scripts ran")
    assert held, "the page did not ask for htmx"
    for route in held:
        route.continue_()
    expect(page.locator("#snippet-python")).to_contain_text("Typed before the scripts ran")
