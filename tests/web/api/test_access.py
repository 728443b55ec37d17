from datetime import datetime, timedelta

from portal.access import sessions
from portal.cli.demo import DEMO_DEVICE, DEMO_ROUTER
from portal.tenancy import api_clients, tenants
from tests.conftest import eventually, rows, value
from tests.web.api.conftest import problem

MAC = DEMO_DEVICE[0]
GIVE = {"router": DEMO_ROUTER, "mac": MAC, "package": "3 hours"}


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def router_has(api, mac: str = MAC, has: bool = True) -> None:
    async def now() -> bool:
        return api.hotspot.emulator.has_access(mac) == has

    await eventually(now)


async def state_of(api, session_id: int, state: str) -> dict:
    async def reached() -> bool:
        return (await api.get(f"/access/{session_id}")).json()["state"] == state

    await eventually(reached)
    return (await api.get(f"/access/{session_id}")).json()


async def test_access_given_through_the_api_starts_when_the_router_has_the_device(api, clock):
    given = await api.post("/access", GIVE)
    assert given.status_code == 201, given.text
    session = given.json()
    assert given.headers["location"] == f"/api/v1/access/{session['id']}"
    assert session | {"id": 0, "created_at": ""} == {
        "id": 0,
        "state": "pending",
        "router": DEMO_ROUTER,
        "mac": MAC,
        "package": "3 hours",
        "seconds": 3 * 3600,
        "data_cap_bytes": None,
        "started_at": None,
        "expires_at": None,
        "ended_at": None,
        "created_at": "",
    }
    await router_has(api)
    active = await state_of(api, session["id"], "active")
    assert moment(active["started_at"]) == clock.now()
    assert moment(active["expires_at"]) == clock.now() + timedelta(hours=3)


async def test_delete_ends_the_access_and_the_router_logs_the_device_out(api):
    session = (await api.post("/access", GIVE)).json()
    await router_has(api)
    ended = await api.delete(f"/access/{session['id']}")
    assert ended.status_code == 200, ended.text
    assert ended.json()["state"] == "revoked" and ended.json()["ended_at"]
    await router_has(api, has=False)
    again = await api.delete(f"/access/{session['id']}")  # ended already: answered as it is
    assert (again.status_code, again.json()) == (200, ended.json())


async def test_seconds_alone_give_the_cheapest_packages_speed_and_more_time_adds_to_the_live_session(api):
    first = await api.post("/access", {"router": DEMO_ROUTER, "mac": MAC, "seconds": 600})
    assert first.status_code == 201, first.text
    assert (first.json()["package"], first.json()["seconds"]) == ("1 hour", 600)
    more = await api.post("/access", {"router": DEMO_ROUTER, "mac": MAC.lower(), "package": 2})
    assert more.status_code == 200, more.text
    assert more.json()["id"] == first.json()["id"]
    assert (more.json()["package"], more.json()["seconds"]) == ("3 hours", 600 + 3 * 3600)
    assert await value(api.hotspot.portal.services.store, "SELECT count(*) FROM access_sessions") == 1


async def test_wrong_fields_are_each_named_and_nothing_is_given(api):
    wrong = await api.post("/access", {"router": "nope", "mac": "AA:BB", "package": "9 hours", "seconds": 0})
    body = problem(wrong, 422, "invalid-request")
    assert [error["pointer"] for error in body["errors"]] == ["/router", "/mac", "/package", "/seconds"]
    assert "no router named 'nope'" in body["errors"][0]["detail"]
    neither = problem(await api.post("/access", {"router": DEMO_ROUTER, "mac": MAC}), 422, "invalid-request")
    assert neither["errors"] == [{"pointer": "/seconds", "detail": "give a package, seconds, or both"}]
    missing = problem(await api.post("/access", {"mac": MAC, "package": 1}), 422, "invalid-request")
    assert [error["pointer"] for error in missing["errors"]] == ["/router"]
    assert "Routers page" in missing["errors"][0]["detail"]  # the field's own words, as documented
    typed = problem(await api.post("/access", GIVE | {"seconds": "ten"}), 422, "invalid-request")
    assert [error["pointer"] for error in typed["errors"]] == ["/seconds"]
    for sent in (b"not json", b"[1]", b""):
        response = await api.http.post(f"{api.base}/access", content=sent, headers=api.headers())
        detail = problem(response, 422, "invalid-request")["detail"]
        assert detail == "the body must be a JSON object: router, mac, package, seconds"
    assert await value(api.hotspot.portal.services.store, "SELECT count(*) FROM access_sessions") == 0


async def test_another_business_and_access_given_without_the_api_are_not_found(api, clock):
    services = api.hotspot.portal.services
    ours = (await api.post("/access", GIVE)).json()["id"]

    def other_business(db):
        tenant_id = tenants.create(db, clock, "shop", "Shop")
        return api_clients.create(db, clock, tenant_id, "Shop desk", ["access:read", "access:write"])[1]

    theirs = await services.store.write(other_business)
    assert "no access" in problem(await api.get(f"/access/{ours}", theirs), 404, "not-found")["detail"]
    problem(await api.delete(f"/access/{ours}", theirs), 404, "not-found")
    assert (await api.get("/access", theirs)).json() == {"data": [], "next_cursor": None}
    refused = problem(await api.post("/access", GIVE, theirs), 422, "invalid-request")
    assert "/router" in [error["pointer"] for error in refused["errors"]]
    assert (await api.get(f"/access/{ours}")).json()["state"] in ("pending", "active")  # not ended

    def by_hand(db):  # the owner's "Give access" in the admin
        [router] = [row["id"] for row in db.all("SELECT id FROM routers")]
        return sessions.open_session(
            db, clock, services.vault, tenant_id=1, router_id=router, package_id=1, mac="AA:BB:CC:00:00:09",
            ip=None, seconds=60,
        )  # fmt: skip

    admins = await services.store.write(by_hand)
    problem(await api.get(f"/access/{admins}"), 404, "not-found")
    problem(await api.delete(f"/access/{admins}"), 404, "not-found")
    assert [s["id"] for s in (await api.get("/access")).json()["data"]] == [ours]
    problem(await api.get("/access/" + "9" * 30), 404, "not-found")


async def test_the_list_filters_by_state_time_router_and_device_and_pages_by_cursor(api, clock):
    made = []
    for n in (1, 2, 3):
        given = await api.post(
            "/access", {"router": DEMO_ROUTER, "mac": f"AA:BB:CC:00:00:0{n}", "seconds": 60}
        )
        made.append(given.json()["id"])
        clock.advance(60)
    first = (await api.get("/access", limit="2")).json()
    assert [s["id"] for s in first["data"]] == [made[2], made[1]]
    second = (await api.get("/access", limit="2", cursor=first["next_cursor"])).json()
    assert [s["id"] for s in second["data"]] == [made[0]] and second["next_cursor"] is None
    by_device = (await api.get("/access", mac="aa-bb-cc-00-00-02", router=DEMO_ROUTER)).json()["data"]
    assert [s["id"] for s in by_device] == [made[1]]
    assert (await api.get("/access", state="revoked")).json()["data"] == []
    assert (await api.get("/access", since=clock.now().isoformat())).json()["data"] == []
    typed = await api.get("/access", state="lost", since="yesterday", cursor="x", limit="0")
    body = problem(typed, 422, "invalid-request")
    assert [error["parameter"] for error in body["errors"]] == ["state", "since", "cursor", "limit"]
    assert body["errors"][3]["detail"] == "a whole number from 1 to 100"
    named = problem(await api.get("/access", router="nope", mac="zz"), 422, "invalid-request")
    assert [error["parameter"] for error in named["errors"]] == ["router", "mac"]
    zoneless = problem(await api.get("/access", since="2026-01-05T09:00:00"), 422, "invalid-request")
    assert [error["parameter"] for error in zoneless["errors"]] == ["since"]


async def test_every_access_call_is_audited_with_its_client(api):
    session = (await api.post("/access", GIVE)).json()
    await api.delete(f"/access/{session['id']}")
    audited = await rows(
        api.hotspot.portal.services.store, "SELECT actor, action, target FROM audit_events ORDER BY id"
    )
    assert [tuple(row) for row in audited] == [
        ("api-client:1 Demo shop", "api_call", "POST /api/v1/access"),
        ("api-client:1 Demo shop", "api_call", f"DELETE /api/v1/access/{session['id']}"),
    ]
