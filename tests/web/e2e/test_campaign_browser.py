"""A campaign in a real browser: opted-in contacts imported into a list, the builder with its
live count and counter, the review, the launch to the simulator, and the results page that
shows the deliveries and then a click on the tracked link. Screenshots of each step."""

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

# Numbers in California: the default sending hours apply there (no state rule).
CSV = "telefone,nome,sobrenome\n+14157232001,Ana,Souza\n+14157232002,José,Gonçalves\n"
CONSENT = "Caixa 'Quero receber ofertas por SMS' no checkout da loja"


def test_a_campaign_is_built_launched_delivered_and_its_link_clicked(
    page: Any, chromium: Any, live_server: LiveServer, screenshots: Path
) -> None:
    sign_in(page)
    # Marketing texts wait for the recipients' sending hours; open them all day so the test
    # passes at any hour (a workspace's own choice, from its settings page).
    page.goto("/app/settings")
    page.get_by_label("Send from").fill("00:00")
    page.get_by_label("Until").fill("24:00")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()

    page.goto("/app/lists")
    page.get_by_label("New list name").fill("Clientes do verão")
    page.get_by_role("button", name="Create list").click()
    page.goto("/app/contacts/import")
    page.get_by_label("CSV file").set_input_files(
        {"name": "clientes.csv", "mimeType": "text/csv", "buffer": CSV.encode()}
    )
    page.get_by_label("Add everyone to a list").select_option(label="Clientes do verão")
    page.get_by_label("How these people opted in").fill(CONSENT)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Import finished")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Campaign name").fill("Promoção de verão")
    page.get_by_label("Clientes do verão").first.check()
    expect(page.locator("[data-audience-eligible]")).to_have_text("2")
    page.screenshot(path=screenshots / "campaign-audience.png", full_page=True)
    page.get_by_role("button", name="Save and write the message").click()

    text = page.get_by_label("Text", exact=True)
    text.fill("Oi ")
    page.get_by_role("button", name="{{ first_name }}").click()
    text.press("End")
    text.press_sequentially("! Verão com 20% na loja: https://loja.example/verao")
    expect(page.locator("#counter .bubble")).to_contain_text("Oi Ana! Verão com 20%")
    expect(page.locator('[data-counter="encoding"]')).to_have_text("UCS-2")
    expect(page.locator("mark[data-ucs2]")).to_have_text(["ã"])
    page.screenshot(path=screenshots / "campaign-message.png", full_page=True)
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Draft “Promoção de verão” saved.")).to_be_visible()
    page.get_by_role("button", name="Save and go on").click()
    page.get_by_role("button", name="Save and review").click()

    expect(page.locator('[data-review="recipients"]')).to_have_text("2")
    expect(page.locator("#refusals")).to_have_count(0)
    page.screenshot(path=screenshots / "campaign-review.png", full_page=True)
    page.get_by_role("button", name="Launch").click()

    expect(page.get_by_text("Campaign “Promoção de verão” launched.")).to_be_visible()
    results = page.url
    # The funnel follows the campaign by itself while it sends.
    expect(page.locator('[data-funnel="delivered"]')).to_have_text("2", timeout=30_000)

    page.goto("/app/messages")
    body = page.get_by_role("cell", name=re.compile(r"Oi Ana! Verão")).inner_text()
    code = re.search(r"/l/([0-9A-Za-z]+)", body)
    assert code, body
    followed = page.request.get(f"{live_server.url}/l/{code.group(1)}", max_redirects=0)
    assert followed.status == 302
    assert followed.headers["location"] == "https://loja.example/verao"

    page.goto(results)
    expect(page.locator('[data-funnel="clicked"]')).to_have_text("1")
    expect(page.locator("#chart-hourly")).to_have_attribute("data-drawn", "true")
    page.screenshot(path=screenshots / "campaign-results.png", full_page=True)
    phone = chromium.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    small = phone.new_page()
    sign_in(small)
    overflow = {}
    for path in (results, "/app/campaigns/new"):
        small.goto(path)
        overflow[path] = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    small.goto(results)
    small.screenshot(path=screenshots / "campaign-results-phone.png", full_page=True)
    phone.close()
    assert all(extra <= 0 for extra in overflow.values()), overflow

    # A segment of the clickers of that list, counted live while it is built.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name", exact=True).fill("Clicaram no verão")
    page.locator("#cond-kind-1").select_option("list:in")
    page.locator("#cond-value-1").fill("Clientes do verão")
    page.locator("#cond-kind-2").select_option("engagement:clicked_within_days")
    page.locator("#cond-value-2").fill("30")
    page.locator("#cond-value-2").press("Tab")
    expect(page.locator("[data-segment-count]")).to_have_text("1")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_text("Segment “Clicaram no verão” saved.")).to_be_visible()
    page.screenshot(path=screenshots / "segment.png", full_page=True)
