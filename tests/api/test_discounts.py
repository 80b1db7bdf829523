"""/v1/discount-pools: create a pool, upload codes as JSON or CSV, see what is left."""

from __future__ import annotations

from recado.services import discounts
from recado.services.actor import system_actor


async def a_pool(client, name="Black Friday"):
    answer = await client.post("/v1/discount-pools", json={"name": name})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_codes_uploaded_as_json_are_counted_and_listed_with_the_pool(client):
    pool = await a_pool(client)
    answer = await client.post(
        f"/v1/discount-pools/{pool['id']}/codes",
        json={"codes": ["BF-1", "BF-2", "bf-2", "BAD CODE"]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "added": 2,
        "duplicates": 1,
        "rejected": 1,
        "rejected_codes": [
            {"line": 4, "code": "BAD CODE", "reason": "contains a space or a control character"}
        ],
        "remaining": 2,
    }
    pools = (await client.get("/v1/discount-pools")).json()["data"]
    assert [(p["name"], p["total"], p["remaining"]) for p in pools] == [("Black Friday", 2, 2)]


async def test_a_csv_file_upload_reads_the_code_column_and_reports_file_lines(client):
    pool = await a_pool(client)
    data = "customer,code\nann,AAA-1\nbob,AAA-2\ncy,AAA 3\n"
    answer = await client.post(
        f"/v1/discount-pools/{pool['id']}/codes",
        files={"file": ("codes.csv", data.encode(), "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["added"], report["rejected"]) == (2, 1)
    assert report["rejected_codes"][0]["line"] == 4


async def test_a_second_pool_with_the_same_name_is_a_conflict(client):
    await a_pool(client)
    answer = await client.post("/v1/discount-pools", json={"name": "Black Friday"})
    assert answer.status_code == 409
    assert answer.json()["error"]["field"] == "name"


async def test_an_upload_in_another_form_is_refused_saying_how_to_send_it(client):
    pool = await a_pool(client)
    answer = await client.post(
        f"/v1/discount-pools/{pool['id']}/codes",
        content=b"AAA-1\nAAA-2",
        headers={"content-type": "text/plain"},
    )
    assert answer.status_code == 422
    assert "multipart/form-data" in answer.json()["error"]["message"]
    wrong_shape = await client.post(
        f"/v1/discount-pools/{pool['id']}/codes", json={"codes": "AAA-1"}
    )
    assert wrong_shape.status_code == 422
    assert wrong_shape.json()["error"]["field"] == "codes"


async def test_another_workspaces_pool_is_not_found(client, platform, other_workspace):
    async with platform.sessions() as session:
        theirs = await discounts.create_pool(
            session, system_actor(other_workspace.workspace.id), "Theirs"
        )
    answer = await client.post(f"/v1/discount-pools/{theirs.id}/codes", json={"codes": ["X1"]})
    assert answer.status_code == 404
    assert (await client.get(f"/v1/discount-pools/{theirs.id}")).status_code == 404
