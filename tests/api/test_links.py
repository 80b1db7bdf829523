"""/l/{code} redirects and records the click; /v1/messages/{id}/clicks lists them, per workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from recado.api import links as links_api
from recado.api.app import create_app
from recado.domain import links as domain_links
from recado.domain.links import is_code
from recado.platform import Platform
from recado.services import links
from recado.services.workspaces import NewWorkspace

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148"


@pytest.fixture
async def api(platform: Platform, workspace: NewWorkspace) -> AsyncIterator[httpx.AsyncClient]:
    """The owner's client, on an app that serves the links router."""
    app = create_app(platform, start_workers=False)
    if not any(getattr(route, "path", "") == "/l/{code:path}" for route in app.routes):
        app.include_router(links_api.router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://recado.test",
        headers={"Authorization": f"Bearer {workspace.api_key}"},
    ) as client:
        yield client


@pytest.fixture
def tracked(
    api: httpx.AsyncClient, platform: Platform, workspace: NewWorkspace
) -> Callable[..., Awaitable[tuple[str, str]]]:
    """Send a message, then shorten `text` for its recipient: (message id, short text)."""

    async def track(text: str, to: str = "+14157234567") -> tuple[str, str]:
        message = (await api.post("/v1/messages", json={"to": to, "body": "Hello"})).json()
        async with platform.sessions() as session:
            short = await links.track_links(
                session,
                workspace.workspace.id,
                text,
                message_id=message["id"],
                contact_id=message["contact_id"],
                base_url="http://recado.test",
            )
            await session.commit()
        return message["id"], short

    return track


def code_in(short_text: str) -> str:
    return short_text.split("/l/")[1].split()[0].rstrip(".!,")


async def test_a_short_link_redirects_and_records_the_click_with_its_user_agent(api, tracked):
    message_id, short = await tracked("Acme: 20% off at https://acme.com/sale.")
    response = await api.get(f"/l/{code_in(short)}", headers={"User-Agent": IPHONE})
    assert response.status_code == 302
    assert response.headers["location"] == "https://acme.com/sale"
    assert response.headers["cache-control"] == "no-store"
    clicks = (await api.get(f"/v1/messages/{message_id}/clicks")).json()
    assert clicks["next_cursor"] is None
    [click] = clicks["data"]
    assert click["user_agent"] == IPHONE
    assert click["url"] == "https://acme.com/sale"
    assert click["code"] == code_in(short)
    assert click["at"]


async def test_query_string_and_fragment_survive_the_redirect(api, tracked):
    target = "https://acme.com/sale?utm_source=sms&utm_campaign=bf%202026&x=a,b#top"
    _, short = await tracked(f"Veja {target}!")
    response = await api.get(f"/l/{code_in(short)}")
    assert response.status_code == 302
    assert response.headers["location"] == target


async def test_non_ascii_paths_are_sent_percent_encoded(api, tracked):
    _, short = await tracked("Acesse https://loja.com.br/promoção?cor=ação.")
    response = await api.get(f"/l/{code_in(short)}")
    assert response.headers["location"] == (
        "https://loja.com.br/promo%C3%A7%C3%A3o?cor=a%C3%A7%C3%A3o"
    )


async def test_unknown_code_gets_a_small_friendly_page(api, scalar):
    for path in ("/l/Zz9Zz9Zz", "/l/bad", "/l/Ab12Cd34/extra", "/l/%27%20OR%201=1"):
        response = await api.get(path, headers={"Accept-Language": "pt-BR,pt;q=0.9"})
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "Link não encontrado" in response.text
        assert "viewport" in response.text
    english = await api.get("/l/Zz9Zz9Zz")
    assert "Link not found" in english.text
    assert await scalar("SELECT count(*) FROM clicks") == 0


async def test_two_recipients_of_one_message_text_get_different_codes(api, tracked):
    text = "Acme: https://acme.com/sale"
    _, first = await tracked(text, to="+14157234567")
    _, second = await tracked(text, to="+14157234568")
    assert code_in(first) != code_in(second)
    for short in (first, second):
        assert is_code(code_in(short)) and len(code_in(short)) >= 8


async def test_clicks_of_another_workspaces_message_are_404(
    api, tracked, other_workspace: NewWorkspace
):
    message_id, short = await tracked("https://acme.com/sale")
    await api.get(f"/l/{code_in(short)}")
    rival = await api.get(
        f"/v1/messages/{message_id}/clicks",
        headers={"Authorization": f"Bearer {other_workspace.api_key}"},
    )
    assert rival.status_code == 404
    assert rival.json()["error"]["code"] == "not_found"
    anonymous = await api.get(f"/v1/messages/{message_id}/clicks", headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_clicks_are_paged_oldest_first(api, tracked):
    message_id, short = await tracked("https://acme.com/sale")
    for agent in ("one", "two", "three"):
        await api.get(f"/l/{code_in(short)}", headers={"User-Agent": agent})
    first = (await api.get(f"/v1/messages/{message_id}/clicks?limit=2")).json()
    rest = (await api.get(f"/v1/messages/{message_id}/clicks?cursor={first['next_cursor']}")).json()
    assert [c["user_agent"] for c in first["data"] + rest["data"]] == ["one", "two", "three"]
    assert rest["next_cursor"] is None


async def test_a_sent_text_gets_short_links_on_the_workspace_short_domain(api):
    """The send path reads the short domain from the cached send configuration."""
    assert (
        await api.patch("/v1/workspace/settings", json={"short_domain": "go.acme.co"})
    ).status_code == 200
    sent = await api.post(
        "/v1/messages",
        json={
            "to": "+14157234567",
            "body": "Sale: https://acme.com/sale and https://go.acme.co/l/abcdefgh",
            "track_links": True,
        },
    )
    assert sent.status_code == 202, sent.text
    body = sent.json()["body"]
    assert body.startswith("Sale: https://go.acme.co/l/")
    assert body.endswith(" and https://go.acme.co/l/abcdefgh")  # already short: left alone
    response = await api.get(f"/l/{code_in(body)}")
    assert response.status_code == 302
    assert response.headers["location"] == "https://acme.com/sale"


async def test_a_send_whose_new_code_is_taken_gets_another_and_its_answer_shows_it(
    api, tracked, monkeypatch, platform
):
    """The codes of an API send are checked with its batch: one already in use, or drawn
    twice, is drawn again, and the answer, the stored text and the redirects agree."""
    _, short = await tracked("Old offer: https://acme.com/old")
    taken = code_in(short)
    draws = iter([[taken, taken], ["freshAA1"], ["freshAA2"]])
    monkeypatch.setattr(domain_links, "new_codes", lambda count, length=8: next(draws))
    sent = await api.post(
        "/v1/messages",
        json={
            "to": "+14157234568",
            "body": "Shoes https://acme.com/shoes and hats https://acme.com/hats",
            "track_links": True,
        },
    )
    assert sent.status_code == 202, sent.text
    body = sent.json()["body"]
    base = platform.settings.base_url
    first, second = (part.split()[0] for part in body.split(f"{base}/l/")[1:])
    assert {first, second} == {"freshAA1", "freshAA2"}
    assert body == f"Shoes {base}/l/{first} and hats {base}/l/{second}"
    assert (await api.get(f"/v1/messages/{sent.json()['id']}")).json()["body"] == body
    for code, url in (
        (first, "https://acme.com/shoes"),
        (second, "https://acme.com/hats"),
        (taken, "https://acme.com/old"),
    ):
        assert (await api.get(f"/l/{code}")).headers["location"] == url
