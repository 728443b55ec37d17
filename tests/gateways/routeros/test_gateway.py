"""The RouterOS gateway against the emulator over loopback TCP, with the real routeros-api underneath;
librouteros reads the router back independently."""

import asyncio
import ssl
from dataclasses import replace
from datetime import timedelta

import librouteros
import pytest
from litestar import Litestar, get
from litestar.params import FromQuery
from litestar.response import Response

from portal import settings as config
from portal.gateways.base import Access, DeviceNotConnected, GatewayError, Grant, Online, Plan, Speed
from portal.gateways.routeros.durations import format_duration, parse_duration
from portal.gateways.routeros.gateway import GRACE_SECONDS, RouterOSGateway, session_of
from portal.sim.routeros import RouterEmulator
from tests.conftest import anonymous_dh_context, eventually, reach, self_signed_context, serving
from tests.gateways.conftest import routeros_target

MAC = "AA:BB:CC:DD:EE:01"
GUEST = "AA:BB:CC:DD:EE:02"
IP = "10.5.50.11"
HOUR = Plan(1, Speed(upload=1_000_000, download=2_000_000))


def gateway_for(emulator: RouterEmulator, timeout: float = 2.0, **changes) -> RouterOSGateway:
    """A gateway to the emulator; `changes` alter its target (password, use_tls, hotspot_server)."""
    return RouterOSGateway(routeros_target(emulator.port, **changes), reach(timeout))


@pytest.fixture
async def gateway(emulator):
    gateway = gateway_for(emulator)
    yield gateway
    await gateway.close()


def access(
    clock,
    seconds: int = 3600,
    session_id: int = 1,
    mac: str = MAC,
    plan: Plan = HOUR,
    data_cap: int | None = None,
) -> Access:
    return Access(
        session_id=session_id,
        mac=mac,
        ip=IP,
        plan=plan,
        seconds=seconds,
        until=clock.now() + timedelta(seconds=seconds),
        data_cap_bytes=data_cap,
    )


def user_row(emulator: RouterEmulator, name: str = MAC) -> dict[str, str] | None:
    rows = emulator.console("/ip/hotspot/user/print", queries=[f"name={name}"]).rows
    return rows[0] if rows else None


def logins(emulator: RouterEmulator) -> list[list[str]]:
    return [s for s in emulator.sentences if s[0] == "/ip/hotspot/active/login"]


# -- grant ----------------------------------------------------------------------------------------------


async def test_grant_creates_a_capped_marked_user_on_the_plans_profile_and_logs_the_device_in(
    emulator, gateway, clock
):
    emulator.connect_device(MAC, IP)
    online = await gateway.grant(access(clock))
    assert (online.mac, online.ip, online.time_left) == (MAC, IP, 3600 + GRACE_SECONDS)
    assert emulator.has_access(MAC) and emulator.active_sessions()[0]["user"] == MAC
    user = user_row(emulator)
    assert user["profile"] == "portal-p1" and user["mac-address"] == MAC
    assert user["limit-uptime"] == format_duration(3600 + GRACE_SECONDS)
    assert user["comment"] == "portal:s=1;exp=2026-01-05T10:00:00Z"
    profile = emulator.console("/ip/hotspot/user/profile/print", queries=["name=portal-p1"]).rows[0]
    assert (profile["rate-limit"], profile["shared-users"]) == ("1M/2M", "1")


async def test_every_login_uses_a_new_password_that_is_nowhere_but_on_the_router(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock, seconds=600))
    clock.advance(300)
    await gateway.extend(access(clock, seconds=3600))
    passwords = [word for sentence in logins(emulator) for word in sentence if word.startswith("=password=")]
    assert len(passwords) == 2 and len(set(passwords)) == 2
    assert user_row(emulator)["password"] == passwords[-1].removeprefix("=password=")


async def test_grant_waits_for_a_device_that_is_not_on_the_hotspot(emulator, gateway, clock):
    with pytest.raises(DeviceNotConnected) as caught:
        await gateway.grant(access(clock))
    assert not caught.value.outage and user_row(emulator) is None  # nothing written while it is away
    emulator.connect_device(MAC, "10.5.50.99")  # back, with a new address from DHCP
    assert (await gateway.grant(access(clock))).ip == "10.5.50.99"


async def test_a_grant_whose_answer_was_lost_logs_the_device_in_once_when_retried(emulator, clock):
    emulator.connect_device(MAC, IP)
    gateway = gateway_for(emulator, timeout=0.3)
    await gateway.health()
    emulator.hold_replies()
    with pytest.raises(GatewayError) as caught:
        await gateway.grant(access(clock))
    assert caught.value.outage
    emulator.release_replies()
    online = await gateway.grant(access(clock))
    assert online.mac == MAC and len(logins(emulator)) == 1
    await gateway.close()


async def test_grants_to_many_devices_go_out_together_and_each_ends_on_its_own(emulator, gateway, clock):
    macs = [f"AA:BB:CC:DD:EF:{n:02X}" for n in range(4)]
    for n, mac in enumerate(macs):
        if n != 2:  # the third left the Wi-Fi
            emulator.connect_device(mac, f"10.5.51.{n + 2}")
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock))  # the profile is known from now on: the usual grants are quick
    wanted = [
        Access(n + 2, mac, f"10.5.51.{n + 2}", HOUR, 3600, clock.now() + timedelta(hours=1))
        for n, mac in enumerate(macs)
    ]
    before = len(emulator.sentences)
    emulator.hold_replies(after="/ip/hotspot/user/add")  # nothing comes back until all is sent
    granting = asyncio.create_task(gateway.grant_all(wanted))

    async def all_sent() -> bool:
        return len(emulator.sentences) - before == 3 * len(macs)

    await eventually(all_sent)
    emulator.release_replies()
    outcomes = await granting
    assert [type(outcome) for outcome in outcomes] == [Online, Online, DeviceNotConnected, Online]
    assert [emulator.has_access(mac) for mac in macs] == [True, True, False, True]
    assert user_row(emulator, macs[2]) is None  # the device away has nothing left on the router


async def test_grant_refuses_to_take_over_a_user_portal_did_not_create(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    emulator.console("/ip/hotspot/user/add", {"name": MAC, "password": "owner's", "comment": "staff phone"})
    with pytest.raises(GatewayError, match="that portal did not create") as caught:
        await gateway.grant(access(clock))
    assert not caught.value.outage
    assert user_row(emulator)["comment"] == "staff phone" and not emulator.has_access(MAC)


async def test_a_missing_profile_is_created_again_on_the_next_grant(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock))
    await gateway.revoke(MAC, 1)
    emulator.console("/ip/hotspot/user/profile/remove", {"numbers": "portal-p1"})
    fresh = gateway_for(emulator)  # what the portal has after a restart
    await fresh.grant(access(clock, session_id=2))
    assert emulator.has_access(MAC)
    await fresh.close()


async def test_a_profile_deleted_on_the_router_is_created_again_by_the_next_try_of_the_same_gateway(
    emulator, gateway, clock
):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock))
    await gateway.revoke(MAC, 1)
    emulator.console("/ip/hotspot/user/profile/remove", {"numbers": "portal-p1"})  # e.g. a router reset
    with pytest.raises(GatewayError, match="input does not match any value of profile"):
        await gateway.grant(access(clock, session_id=2))
    await gateway.grant(access(clock, session_id=2))  # the worker's retry
    assert emulator.has_access(MAC) and user_row(emulator)["profile"] == "portal-p1"


# -- extend ---------------------------------------------------------------------------------------------


async def test_extend_raises_the_cap_by_what_was_used_and_logs_in_again_when_the_session_is_short(
    emulator, gateway, clock
):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock, seconds=600))
    clock.advance(300)
    online = await gateway.extend(access(clock, seconds=300 + 3600))
    assert online.time_left == 3900 + GRACE_SECONDS
    assert user_row(emulator)["limit-uptime"] == format_duration(300 + 3900 + GRACE_SECONDS)
    clock.advance(3900)
    assert emulator.has_access(MAC)  # the portal, not the router, ends it at the paid time


async def test_extend_keeps_a_session_that_already_has_enough_time(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock, seconds=3600))
    assert (await gateway.extend(access(clock, seconds=3600))).time_left == 3600 + GRACE_SECONDS
    assert len(logins(emulator)) == 1


async def test_extend_for_a_device_that_went_away_updates_the_user_only(emulator, gateway, clock):
    assert await gateway.extend(access(clock, seconds=7200)) is None
    assert user_row(emulator)["limit-uptime"] == format_duration(7200 + GRACE_SECONDS)
    assert logins(emulator) == []


# -- data caps ------------------------------------------------------------------------------------------


async def test_the_data_cap_is_the_users_byte_limit_and_the_router_holds_it(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock, data_cap=1_000_000))
    assert user_row(emulator)["limit-bytes-total"] == "1000000"
    emulator.traffic(MAC, 500_000, 499_999)
    assert emulator.has_access(MAC)
    emulator.traffic(MAC, 0, 1)
    assert not emulator.has_access(MAC) and emulator.ended[-1]["cause"] == "traffic-limit"


async def test_extend_with_a_bigger_cap_logs_the_device_in_again_under_it(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock, data_cap=1_000_000))
    emulator.traffic(MAC, 300_000, 300_000)
    await gateway.extend(access(clock, data_cap=2_000_000))
    [session] = emulator.active_sessions()
    assert session["limit-bytes-total"] == "2000000" and len(logins(emulator)) == 2
    emulator.traffic(MAC, 700_000, 699_999)
    assert emulator.has_access(MAC)
    emulator.traffic(MAC, 1, 0)
    assert not emulator.has_access(MAC)


async def test_extend_for_a_device_whose_data_is_used_up_writes_nothing_and_tries_no_login(
    emulator, gateway, clock
):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock, data_cap=1_000_000))
    emulator.traffic(MAC, 400_000, 600_000)
    before = len(emulator.sentences)
    assert await gateway.extend(access(clock, data_cap=1_000_000)) is None
    assert all(s[0].endswith("/print") for s in list(emulator.sentences)[before:])
    assert len(logins(emulator)) == 1


async def test_a_new_session_starts_on_a_fresh_user_so_an_earlier_ones_bytes_do_not_count(
    emulator, gateway, clock
):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock, session_id=1))
    emulator.traffic(MAC, 1_000_000, 4_000_000)
    await gateway.grant(access(clock, session_id=2, data_cap=1_000_000))  # bought again after the first
    emulator.traffic(MAC, 400_000, 500_000)
    assert emulator.has_access(MAC) and session_of(user_row(emulator)["comment"]) == 2


async def test_revoke_says_how_many_bytes_the_session_moved_on_the_device(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock, seconds=600))
    emulator.traffic(MAC, 100_000, 200_000)
    await gateway.extend(access(clock, seconds=3600))  # a new login: the first one's bytes go to the user
    emulator.traffic(MAC, 10_000, 20_000)
    assert await gateway.revoke(MAC, 1) == 330_000
    assert await gateway.revoke(MAC, 1) == 0


# -- revoke ---------------------------------------------------------------------------------------------


async def test_revoke_removes_user_session_and_cookie_and_can_run_again(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock))
    assert emulator.console("/ip/hotspot/cookie/print").rows
    await gateway.revoke(MAC, 1)
    assert not emulator.has_access(MAC) and user_row(emulator) is None
    assert emulator.console("/ip/hotspot/cookie/print").rows == []
    await gateway.revoke(MAC, 1)


async def test_revoke_of_an_old_session_leaves_the_newer_purchase_alone(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock, session_id=1))
    await gateway.grant(access(clock, session_id=2))  # bought again before the first revoke ran
    await gateway.revoke(MAC, 1)
    assert emulator.has_access(MAC) and session_of(user_row(emulator)["comment"]) == 2


async def test_revoke_never_touches_what_portal_did_not_create(emulator, gateway):
    emulator.connect_device(MAC, IP)
    emulator.console("/ip/hotspot/user/add", {"name": MAC, "password": "x", "comment": "owner"})
    emulator.console("/ip/hotspot/active/login", {"user": MAC, "password": "x", "ip": IP})
    await gateway.revoke(MAC, 1)
    assert emulator.has_access(MAC) and user_row(emulator)["comment"] == "owner"


async def test_revoke_ends_a_session_whose_user_was_already_deleted_by_hand(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock))
    emulator.console("/ip/hotspot/user/remove", {"numbers": MAC})
    assert emulator.has_access(MAC)
    await gateway.revoke(MAC, 1)
    assert not emulator.has_access(MAC)


# -- reading the router ---------------------------------------------------------------------------------


async def test_online_devices_carry_uptime_time_left_and_what_they_sent_and_received(
    emulator, gateway, clock
):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock))
    clock.advance(600)
    emulator.traffic(MAC, 12_345, 678_901)  # in and out as the router counts them
    [online] = await gateway.online()
    assert (online.mac, online.ip, online.uptime, online.time_left) == (MAC, IP, 600, 3000 + GRACE_SECONDS)
    assert (online.bytes_up, online.bytes_down, online.bytes_used) == (12_345, 678_901, 691_246)


async def test_devices_at_an_address_are_those_the_hotspot_sees_there_or_translates_it_to(emulator, gateway):
    emulator.connect_device(MAC, IP)
    emulator.connect_device(GUEST, "10.5.50.12", to_address="192.168.77.12")
    assert await gateway.devices_at(IP) == {MAC}
    assert await gateway.devices_at("192.168.77.12") == {GUEST}  # the address the portal sees it at
    assert await gateway.devices_at("10.5.50.99") == set()  # no device of the Wi-Fi there
    asked = [s for s in emulator.sentences if s[0] == "/ip/hotspot/host/print"]
    assert len(asked) == 6  # two prints a question, sent together


async def test_snapshot_lists_only_our_grants_and_health_counts_them(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    emulator.connect_device(GUEST, "10.5.50.12")
    await gateway.grant(access(clock, session_id=7))
    emulator.console("/ip/hotspot/user/add", {"name": "guest", "comment": "front desk"})
    emulator.console("/ip/hotspot/active/login", {"user": "guest", "ip": "10.5.50.12"})
    clock.advance(600)
    snapshot = await gateway.snapshot()
    assert snapshot.grants == [Grant(session_id=7, mac=MAC)]
    assert snapshot.online == {MAC}  # the guest is online, but not under a grant of portal's
    assert snapshot.present == {MAC, GUEST}
    health = await gateway.health()
    assert health.identity == "cafe-router"
    assert health.summary == [
        "RouterOS 7.18.2 on hAP ac^2, up 10m",
        "Hotspot users: 2 (1 made by portal)",
        "Online now: 2 · devices on the hotspot: 2",
    ]


async def test_librouteros_reads_back_what_the_gateway_wrote(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock))

    def read():
        api = librouteros.connect("127.0.0.1", "admin", "secret", port=emulator.port)
        try:
            return (
                list(api.path("ip", "hotspot", "user")),
                list(api.path("ip", "hotspot", "active")),
                [p for p in api.path("ip", "hotspot", "user", "profile") if p["name"] == "portal-p1"],
            )
        finally:
            api.close()

    users, active, profiles = await asyncio.to_thread(read)
    assert [(u["name"], u["mac-address"], u["profile"], u["comment"]) for u in users] == [
        (MAC, MAC, "portal-p1", "portal:s=1;exp=2026-01-05T10:00:00Z")
    ]
    assert parse_duration(users[0]["limit-uptime"]) == 3600 + GRACE_SECONDS
    assert [(a["user"], a["mac-address"], a["address"]) for a in active] == [(MAC, MAC, IP)]
    assert parse_duration(active[0]["session-time-left"]) == 3600 + GRACE_SECONDS
    assert [(p["rate-limit"], p["shared-users"]) for p in profiles] == [("1M/2M", 1)]


# -- failures -------------------------------------------------------------------------------------------


async def failure_of(gateway: RouterOSGateway, port: int) -> str:
    """What an owner reads when the gateway can't reach its router (the port written as PORT)."""
    with pytest.raises(GatewayError) as caught:
        await gateway.health()
    await gateway.close()
    assert caught.value.outage
    return str(caught.value).replace(str(port), "PORT")


async def test_refused_silent_or_a_failed_tls_handshake_read_the_same_and_the_detail_goes_to_the_log(
    clock, tmp_path, caplog
):
    """To an owner, a port that refuses, a router that never answers and a TLS handshake that fails all
    mean the same thing to check; only the log tells them apart."""
    refusing = RouterEmulator(clock)
    await refusing.start()
    await refusing.down()
    silent = RouterEmulator(clock, ssl_context=self_signed_context(tmp_path))
    await silent.start()
    silent.hold_replies()
    newer_tls_only = self_signed_context(tmp_path)
    newer_tls_only.minimum_version = ssl.TLSVersion.TLSv1_3  # the gateway speaks TLS 1.2 at most
    handshake = RouterEmulator(clock, ssl_context=newer_tls_only)
    await handshake.start()
    try:
        messages = {
            await failure_of(gateway_for(router, timeout=0.3, use_tls=True), router.port)
            for router in (refusing, silent, handshake)
        }
    finally:
        silent.release_replies()
        for router in (refusing, silent, handshake):
            await router.stop()
    assert messages == {
        "no RouterOS API answered at 127.0.0.1:PORT: is the api-ssl service enabled and reachable from"
        " this box?"
    }
    details = " ".join(record.fields["detail"] for record in caplog.records if hasattr(record, "fields"))
    assert "Connection refused" in details and "timed out" in details and "SSL" in details


async def test_an_address_outside_the_allowed_networks_is_never_connected_to(emulator, clock):
    private_only = replace(reach(), networks=config.load(None, environ={}).routers.allowed_networks)
    for host in ("127.0.0.1", "localhost"):
        gateway = RouterOSGateway(routeros_target(emulator.port, host=host), private_only)
        with pytest.raises(GatewayError) as caught:
            await gateway.health()
        await gateway.close()
        assert str(caught.value) == (
            f"{host} is outside the networks this box may reach routers on: give the router's address on"
            " your local network, like 192.168.88.1"
        )
        assert caught.value.outage
    assert not emulator.sentences and not emulator.connections


async def test_a_wrong_api_password_is_an_outage_whose_message_never_holds_the_password(emulator):
    gateway = gateway_for(emulator, password="hunter2-guess")
    with pytest.raises(GatewayError) as caught:
        await gateway.health()
    assert caught.value.outage and "check the user and password" in str(caught.value)
    assert "hunter2" not in str(caught.value) and caught.value.__context__ is None
    await gateway.close()


async def test_a_trap_is_a_refusal_in_the_routers_words_without_our_command(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    emulator.inject_trap("/ip/hotspot/active/login", "server is busy")
    with pytest.raises(GatewayError) as caught:
        await gateway.grant(access(clock))
    assert str(caught.value) == "the router refused: server is busy" and not caught.value.outage
    assert "password" not in str(caught.value) and caught.value.__context__ is None
    assert (await gateway.grant(access(clock))).mac == MAC


async def test_a_stale_connection_after_a_reboot_is_replaced_without_failing(emulator, gateway, clock):
    emulator.connect_device(MAC, IP)
    await gateway.grant(access(clock))
    emulator.reboot()
    assert await gateway.online() == []


async def test_a_fatal_reply_routeros_api_cannot_parse_leads_to_a_fresh_connection(emulator, gateway):
    await gateway.health()
    emulator.inject_fatal("/ip/hotspot/host/print")
    emulator.connect_device(MAC, IP)
    assert (await gateway.snapshot()).present == {MAC}


@pytest.mark.parametrize("make_context", [self_signed_context, anonymous_dh_context])
async def test_api_ssl_works_with_a_self_signed_certificate_and_with_none(clock, tmp_path, make_context):
    router = RouterEmulator(clock, ssl_context=make_context(tmp_path))
    await router.start()
    gateway = gateway_for(router, use_tls=True)
    assert (await gateway.health()).identity == "MikroTik"
    await gateway.close()
    await router.stop()


# -- provisioning ---------------------------------------------------------------------------------------


@get("/hotspot/login.html", sync_to_thread=False)
def login_page(router: FromQuery[str]) -> Response:
    return Response(f"<html>portal login for {router}</html>", media_type="text/html")


async def test_provision_sets_profiles_walled_garden_and_login_page_and_can_run_again(emulator, gateway):
    plans = [HOUR, Plan(2, Speed(upload=2_000_000, download=4_000_000))]
    async with serving(Litestar([login_page], logging_config=None)) as base:
        first = await gateway.provision(plans, base, f"{base}/hotspot/login.html?router=cafe")
        emulator.console("/ip/hotspot/user/profile/set", {"numbers": "portal-p2", "rate-limit": "9M/9M"})
        second = await gateway.provision(plans, base, f"{base}/hotspot/login.html?router=cafe")
    port = int(base.rsplit(":", 1)[1])
    assert first[:3] == [
        "profile portal-p1 created (rate limit 1M/2M)",
        "profile portal-p2 created (rate limit 2M/4M)",
        f"walled garden opened to 127.0.0.1:{port}",
    ]
    assert second[:3] == [
        "profile portal-p1 up to date",
        "profile portal-p2 updated",
        f"walled garden already open to 127.0.0.1:{port}",
    ]
    garden = emulator.console("/ip/hotspot/walled-garden/ip/print").rows
    # Only the customers' port: the admin's, on the same box, stays closed to devices that have not paid.
    assert [(g["dst-address"], g["protocol"], g["dst-port"], g["action"]) for g in garden] == [
        ("127.0.0.1", "tcp", str(port), "accept")
    ]
    profile = emulator.console("/ip/hotspot/user/profile/print", queries=["name=portal-p2"]).rows[0]
    assert profile["rate-limit"] == "2M/4M"
    # hotspot1's server profile reads its pages from flash/hotspot
    assert emulator.files["flash/hotspot/login.html"] == b"<html>portal login for cafe</html>"


async def test_plans_leave_a_speed_the_router_holds_in_other_words_alone(emulator, gateway):
    """Routers carry rates as their owners typed them: rewriting one is needless churn on a live router."""
    for name, rate in (("portal-p1", "1M/2M"), ("portal-p3", "1M"), ("portal-p4", "1024k/2M")):
        emulator.console(
            "/ip/hotspot/user/profile/add",
            {"name": name, "rate-limit": rate, "shared-users": "1", "comment": "portal:package"},
        )
    symmetric, typed = Plan(3, Speed(1_000_000, 1_000_000)), Plan(4, Speed(1_024_000, 2_000_000))
    assert await gateway.apply_plans([HOUR, symmetric, typed]) == [
        "profile portal-p1 up to date",
        "profile portal-p3 up to date",
        "profile portal-p4 up to date",
    ]
    assert not [sentence for sentence in emulator.sentences if sentence[0].endswith("/profile/set")]


async def test_provision_names_a_hotspot_server_the_router_does_not_have(emulator):
    gateway = gateway_for(emulator, hotspot_server="hotspot9")
    with pytest.raises(GatewayError, match="no hotspot server hotspot9"):
        await gateway.provision([], "http://10.5.50.2:8080", "http://10.5.50.2:8080/hotspot/login.html")
    await gateway.close()
