"""The RouterOS emulator, checked at the wire and through the two client libraries people use with it.

routeros-api and librouteros are blocking, so they run in a worker thread while the emulator serves
from the test's event loop.
"""

import asyncio
import hashlib

import librouteros
import pytest
import routeros_api
from litestar import Litestar, get
from litestar.response import Response
from routeros_api import query
from routeros_api.exceptions import (
    RouterOsApiCommunicationError,
    RouterOsApiConnectionError,
    RouterOsApiParsingError,
)

from portal.sim.routeros import (
    RouterEmulator,
    Trap,
    encode_length,
    encode_sentence,
    read_sentence,
)
from tests.conftest import self_signed_context, serving

MAC = "AA:BB:CC:DD:EE:01"
IP = "10.5.50.11"


def connect(emulator: RouterEmulator, timeout: float = 5.0, **options) -> routeros_api.RouterOsApiPool:
    pool = routeros_api.RouterOsApiPool(
        "127.0.0.1", "admin", "secret", port=emulator.port, plaintext_login=True, **options
    )
    pool.set_timeout(timeout)
    return pool


async def in_thread(function, *args):
    return await asyncio.to_thread(function, *args)


async def with_api(emulator: RouterEmulator, work):
    """Runs `work(api)` with a fresh routeros-api connection in a thread, then disconnects."""
    pool = connect(emulator)

    def run():
        try:
            return work(pool.get_api())
        finally:
            pool.disconnect()

    return await asyncio.to_thread(run)


class Wire:
    """A raw API connection, for what the libraries hide: tags, reply words, `!empty`, `!fatal`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, emulator: RouterEmulator, login: bool = True) -> "Wire":
        wire = cls(*await asyncio.open_connection("127.0.0.1", emulator.port))
        if login:
            assert await wire.ask("/login", "=name=admin", "=password=secret") == [["!done"]]
        return wire

    async def ask(self, *words: str) -> list[list[str]]:
        """Sends one sentence and reads replies up to and including `!done` (or a `!fatal`)."""
        self.writer.write(encode_sentence(words))
        replies = []
        while True:
            sentence = await asyncio.wait_for(read_sentence(self.reader), 5)
            replies.append(sentence)
            if sentence[0] in {"!done", "!fatal"}:
                return replies

    async def close(self) -> None:
        self.writer.close()


# -- the codec ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (0x7F, b"\x7f"),
        (0x80, b"\x80\x80"),
        (300, b"\x81\x2c"),
        (0x3FFF, b"\xbf\xff"),
        (17000, b"\xc0\x42\x68"),
        (0x200000, b"\xe0\x20\x00\x00"),
        (0x10000000, b"\xf0\x10\x00\x00\x00"),
    ],
)
def test_word_lengths_use_the_documented_encoding(length, encoded):
    assert encode_length(length) == encoded


async def test_words_of_every_length_class_survive_the_round_trip():
    words = ["/x", "a" * 0x7F, "b" * 300, "c" * 17000, "d" * 0x200000, "é=ü"]
    reader = asyncio.StreamReader()
    reader.feed_data(encode_sentence(words))
    assert await read_sentence(reader) == words


# -- protocol -------------------------------------------------------------------------------------------


async def test_every_reply_carries_the_commands_tag_and_untagged_commands_get_untagged_replies(emulator):
    wire = await Wire.open(emulator)
    tagged = await wire.ask("/ip/hotspot/user/profile/print", ".tag=7")
    assert tagged[0][0] == "!re" and tagged[-1] == ["!done", ".tag=7"]
    assert all(sentence[-1] == ".tag=7" for sentence in tagged)
    untagged = await wire.ask("/ip/hotspot/user/profile/print")
    assert all(not word.startswith(".tag") for sentence in untagged for word in sentence)
    await wire.close()


async def test_a_trap_has_a_message_and_is_followed_by_done_both_tagged(emulator):
    wire = await Wire.open(emulator)
    replies = await wire.ask("/ip/hotspot/user/remove", "=.id=*99", ".tag=3")
    assert replies == [["!trap", "=message=no such item", ".tag=3"], ["!done", ".tag=3"]]
    await wire.close()


async def test_a_print_that_finds_nothing_answers_empty_from_7_18_on(clock):
    for version, expected in [("7.18.2", [["!empty"], ["!done"]]), ("6.49.10", [["!done"]])]:
        router = RouterEmulator(clock, version=version)
        await router.start()
        wire = await Wire.open(router)
        assert await wire.ask("/ip/hotspot/user/print") == expected
        await wire.close()
        await router.stop()


async def test_routeros_api_reads_empty_prints_as_empty_lists(emulator):
    assert await with_api(emulator, lambda api: api.get_resource("/ip/hotspot/user").get()) == []


async def test_commands_before_login_are_refused(emulator):
    wire = await Wire.open(emulator, login=False)
    replies = await wire.ask("/ip/hotspot/user/print", ".tag=1")
    assert replies[0][:2] == ["!trap", "=message=not logged in"]
    await wire.close()


async def test_quit_ends_the_session_with_an_untagged_fatal_and_a_bare_reason(emulator):
    wire = await Wire.open(emulator)
    assert await wire.ask("/quit", ".tag=9") == [["!fatal", "session terminated on request"]]
    assert await wire.reader.read() == b""
    await wire.close()


async def test_unknown_menus_and_verbs_are_told_apart(emulator):
    wire = await Wire.open(emulator)
    assert (await wire.ask("/ip/nothing/print"))[0][1] == "=message=no such command prefix"
    assert (await wire.ask("/ip/hotspot/user/frobnicate"))[0][1] == "=message=no such command"
    await wire.close()


async def test_a_control_byte_closes_the_connection(emulator):
    wire = await Wire.open(emulator)
    wire.writer.write(b"\xf8")
    assert await asyncio.wait_for(wire.reader.read(), 5) == b""
    await wire.close()


# -- login ----------------------------------------------------------------------------------------------


async def test_plaintext_login_succeeds_and_a_wrong_password_is_refused_with_routeros_wording(emulator):
    assert await with_api(emulator, lambda api: api.get_resource("/system/identity").get())
    wrong = routeros_api.RouterOsApiPool(
        "127.0.0.1", "admin", "nope", port=emulator.port, plaintext_login=True
    )
    with pytest.raises(RouterOsApiCommunicationError) as caught:
        await in_thread(wrong.get_api)
    wrong.disconnect()
    assert caught.value.original_message == b"invalid user name or password (6)"


async def test_a_modern_router_answers_a_bare_login_with_a_challenge_but_refuses_the_md5_answer(emulator):
    pool = routeros_api.RouterOsApiPool("127.0.0.1", "admin", "secret", port=emulator.port)  # MD5 login
    with pytest.raises(RouterOsApiCommunicationError, match=r"invalid user name or password \(6\)"):
        await in_thread(pool.get_api)
    pool.disconnect()
    assert emulator.sentences[-2][:1] == ["/login"] and len(emulator.sentences[-2]) == 2  # bare, then tag


@pytest.mark.parametrize(("mode", "plaintext"), [("legacy", True), ("legacy", False), ("both", False)])
async def test_legacy_routers_accept_the_md5_challenge_response(clock, mode, plaintext):
    router = RouterEmulator(clock, login_mode=mode)
    await router.start()
    pool = routeros_api.RouterOsApiPool(
        "127.0.0.1", "admin", "secret", port=router.port, plaintext_login=plaintext
    )
    await in_thread(lambda: pool.get_api().get_resource("/system/identity").get())
    pool.disconnect()
    assert any(word.startswith("=response=00") for word in router.sentences[1])
    await router.stop()


async def test_legacy_login_checks_the_md5_of_the_password_and_challenge(clock):
    router = RouterEmulator(clock, login_mode="legacy")
    await router.start()
    wire = await Wire.open(router, login=False)
    challenge = bytes.fromhex((await wire.ask("/login"))[0][1].removeprefix("=ret="))
    wrong = "00" + hashlib.md5(b"\x00wrong" + challenge).hexdigest()  # noqa: S324
    assert (await wire.ask("/login", "=name=admin", f"=response={wrong}"))[0][1] == "=message=cannot log in"
    right = "00" + hashlib.md5(b"\x00secret" + challenge).hexdigest()  # noqa: S324
    assert await wire.ask("/login", "=name=admin", f"=response={right}") == [["!done"]]
    await wire.close()
    await router.stop()


# -- tables and queries ---------------------------------------------------------------------------------


async def test_ids_are_uppercase_hex_and_never_reused_even_across_a_reboot(emulator):
    first = emulator.console("/ip/hotspot/user/add", {"name": "a"}).ret
    emulator.console("/ip/hotspot/user/remove", {".id": first})
    second = emulator.console("/ip/hotspot/user/add", {"name": "a"}).ret
    emulator.reboot()
    third = emulator.console("/ip/hotspot/user/add", {"name": "b"}).ret
    numbers = [int(id_[1:], 16) for id_ in (first, second, third)]
    assert numbers == sorted(set(numbers)) and all(id_ == id_.upper() for id_ in (first, second, third))


async def test_queries_follow_the_stack_machine(emulator):
    emulator.console("/ip/hotspot/user/profile/add", {"name": "other"})
    for name, profile, comment in [("a", "default", "x"), ("b", "default", ""), ("c", "other", "y")]:
        emulator.console("/ip/hotspot/user/add", {"name": name, "profile": profile, "comment": comment})

    def names(*queries: str) -> list[str]:
        return [row["name"] for row in emulator.console("/ip/hotspot/user/print", queries=queries).rows]

    assert names("name=a", "name=c", "#|") == ["a", "c"]
    assert names("name=a", "name=c", "#|!") == ["b"]
    assert names("profile=default", "name=b") == ["b"]
    assert names(">comment=") == ["a", "c"]
    assert names("-password") == ["a", "b", "c"]
    assert names("=name=b") == ["b"]
    assert names("name=a", "name=b", "name=c", "#|", "#|") == ["a", "b", "c"]
    assert names("name=a", "#!") == ["b", "c"]
    assert names("name=a", "name=b", "#1") == ["a"]  # an index at the end: that entry becomes the stack


async def test_routeros_api_queries_proplist_and_count_only(emulator):
    for index in range(12):
        emulator.console("/ip/hotspot/user/add", {"name": f"u{index}", "limit-bytes-total": str(index * 100)})

    def ask(api):
        users = api.get_resource("/ip/hotspot/user")
        one_or_three = query.OrQuery(query.IsEqualQuery("name", "u1"), query.IsEqualQuery("name", "u3"))
        either = users.call("print", {}, {}, additional_queries=[one_or_three])
        big = users.call(
            "print", {".proplist": "name"}, {}, [query.IsGreaterQuery("limit-bytes-total", "900")]
        )
        return either, big, users.call("print", {"count-only": None}).done_message

    either, big, count = await with_api(emulator, ask)
    assert sorted(row["name"] for row in either) == ["u1", "u3"]
    assert big == [{"name": "u10"}, {"name": "u11"}]  # numeric, not text, order: u2's 200 is not > 900
    assert count == {"ret": "12"}


async def test_set_and_remove_address_entries_by_id_name_or_comma_list_and_refuse_all_if_one_is_missing(
    emulator,
):
    ids = [emulator.console("/ip/hotspot/user/add", {"name": n}).ret for n in ("a", "b", "c")]
    emulator.console("/ip/hotspot/user/set", {"numbers": f"{ids[0]},b", "comment": "hi"})
    with pytest.raises(Trap, match="no such item"):
        emulator.console("/ip/hotspot/user/remove", {".id": f"{ids[2]},*FFFF"})
    rows = emulator.console("/ip/hotspot/user/print").rows
    assert [(row["name"], row.get("comment")) for row in rows] == [("a", "hi"), ("b", "hi"), ("c", None)]
    emulator.console("/ip/hotspot/user/remove", {".id": "c"})
    assert len(emulator.console("/ip/hotspot/user/print").rows) == 2


async def test_an_empty_value_sent_as_a_bare_name_sets_the_empty_string(emulator):
    def clear(api):
        users = api.get_resource("/ip/hotspot/user")
        user_id = users.add(name="a", comment="something").done_message["ret"]
        users.set(id=user_id, comment="")
        return users.get(id=user_id)

    assert (await with_api(emulator, clear))[0]["comment"] == ""
    sets = [sentence for sentence in emulator.sentences if sentence[0] == "/ip/hotspot/user/set"]
    assert "=comment" in sets[0]


async def test_adding_rejects_duplicates_unknown_profiles_unknown_parameters_and_bad_values(emulator):
    emulator.console("/ip/hotspot/user/add", {"name": "a"})
    for args, message in [
        ({"name": "a"}, "failure: already have user with this name for this server"),
        ({"name": "b", "profile": "gold"}, "input does not match any value of profile"),
        ({"name": "b", "colour": "red"}, "unknown parameter colour"),
        ({"name": "b", "limit-uptime": "soon"}, "invalid value for argument limit-uptime"),
        ({"name": "b", "mac-address": "not-a-mac"}, "invalid value for argument mac-address"),
    ]:
        with pytest.raises(Trap) as caught:
            emulator.console("/ip/hotspot/user/add", args)
        assert caught.value.message == message
    emulator.console("/ip/hotspot/ip-binding/add", {"mac-address": MAC, "type": "bypassed"})
    with pytest.raises(Trap, match="such client already exists"):
        emulator.console("/ip/hotspot/ip-binding/add", {"mac-address": MAC.lower()})


async def test_singleton_menus_have_no_id_and_resource_reports_version_and_live_uptime(emulator, clock):
    clock.advance(hours=2)
    resource = emulator.console("/system/resource/print").rows[0]
    assert resource["version"] == "7.18.2 (stable)" and resource["uptime"] == "2h" and ".id" not in resource
    emulator.console("/system/identity/set", {"name": "lobby"})
    assert emulator.console("/system/identity/print").rows == [{"name": "lobby"}]


async def test_macs_are_stored_uppercase_and_queries_match_them_in_any_case(emulator):
    emulator.console("/ip/hotspot/user/add", {"name": "a", "mac-address": "aa-bb-cc-dd-ee-01"})
    assert emulator.console("/ip/hotspot/user/print", queries=["mac-address=aa:bb:cc:dd:ee:01"]).rows[0][
        "mac-address"
    ] == (MAC)


# -- hotspot semantics ----------------------------------------------------------------------------------


def add_user(emulator, name=MAC, password="pw", **more):  # noqa: S107
    return emulator.console("/ip/hotspot/user/add", {"name": name, "password": password, **more}).ret


def log_in(emulator, user=MAC, password="pw", ip=IP, mac=MAC):  # noqa: S107
    emulator.console(
        "/ip/hotspot/active/login", {"user": user, "password": password, "ip": ip, "mac-address": mac}
    )


async def test_active_login_needs_a_known_host_a_matching_mac_and_the_right_password(emulator):
    add_user(emulator, **{"mac-address": MAC})
    with pytest.raises(Trap, match="no such host"):
        log_in(emulator)
    emulator.connect_device(MAC, IP)
    with pytest.raises(Trap, match="invalid username or password"):
        log_in(emulator, password="wrong")
    emulator.connect_device("AA:BB:CC:DD:EE:02", "10.5.50.12")
    with pytest.raises(Trap, match="no such host"):
        log_in(emulator, ip="10.5.50.12")  # the IP belongs to another MAC
    with pytest.raises(Trap, match=r"this MAC address is not yours"):
        log_in(emulator, ip="10.5.50.12", mac="AA:BB:CC:DD:EE:02")
    assert not emulator.has_access(MAC)
    log_in(emulator)
    assert emulator.has_access(MAC) and not emulator.has_access("AA:BB:CC:DD:EE:02")
    host = emulator.console("/ip/hotspot/host/print", queries=[f"mac-address={MAC}"]).rows[0]
    assert host["authorized"] == "true"


async def test_limit_uptime_ends_the_session_on_the_clock_and_bars_a_new_login(emulator, clock):
    add_user(emulator, **{"limit-uptime": "1h"})
    emulator.connect_device(MAC, IP)
    log_in(emulator)
    clock.advance(minutes=59)
    assert emulator.active_sessions()[0]["session-time-left"] == "1m"
    clock.advance(minutes=2)
    assert not emulator.has_access(MAC)
    assert emulator.ended[-1] | {"at": None} == {
        "user": MAC,
        "mac-address": MAC,
        "cause": "uptime-limit",
        "at": None,
        "uptime": 3600,
    }
    user = emulator.console("/ip/hotspot/user/print").rows[0]
    assert user["uptime"] == "1h"
    with pytest.raises(Trap, match=f"user {MAC} has reached uptime limit"):
        log_in(emulator)


async def test_the_clock_alone_ends_sessions_without_any_command(emulator, clock):
    add_user(emulator, **{"limit-uptime": "30m"})
    emulator.connect_device(MAC, IP)
    log_in(emulator)
    clock.advance(hours=1)
    for _ in range(5):  # the emulator's ticker wakes on the clock
        await asyncio.sleep(0)
    assert emulator.ended and emulator.ended[-1]["cause"] == "uptime-limit"


async def test_shared_users_counts_sessions_of_one_user(emulator):
    emulator.console("/ip/hotspot/user/profile/add", {"name": "two", "shared-users": "2"})
    add_user(emulator, name="family", profile="two")
    for index in range(3):
        emulator.connect_device(f"AA:BB:CC:DD:EE:0{index}", f"10.5.50.2{index}")
    log_in(emulator, user="family", ip="10.5.50.20", mac="AA:BB:CC:DD:EE:00")
    log_in(emulator, user="family", ip="10.5.50.21", mac="AA:BB:CC:DD:EE:01")
    with pytest.raises(Trap, match="no more sessions are allowed for user family"):
        log_in(emulator, user="family", ip="10.5.50.22", mac="AA:BB:CC:DD:EE:02")


async def test_removing_a_user_leaves_its_session_running_until_the_session_is_removed(emulator, clock):
    user_id = add_user(emulator, **{"limit-uptime": "1h"})
    emulator.connect_device(MAC, IP)
    log_in(emulator)
    assert emulator.console("/ip/hotspot/cookie/print").rows[0]["mac-address"] == MAC
    emulator.console("/ip/hotspot/user/remove", {".id": user_id})
    assert emulator.has_access(MAC)
    clock.advance(minutes=10)
    session = emulator.console("/ip/hotspot/active/print").rows[0]
    emulator.console("/ip/hotspot/active/remove", {".id": session[".id"]})
    assert not emulator.has_access(MAC)
    assert emulator.ended[-1]["cause"] == "admin-reset" and emulator.ended[-1]["uptime"] == 600
    assert emulator.console("/ip/hotspot/cookie/print").rows == []


async def test_a_users_limits_are_fixed_into_its_session_at_login(emulator, clock):
    user_id = add_user(emulator, **{"limit-uptime": "10m"})
    emulator.connect_device(MAC, IP)
    log_in(emulator)
    emulator.console("/ip/hotspot/user/set", {".id": user_id, "limit-uptime": "2h"})
    clock.advance(minutes=11)
    assert not emulator.has_access(MAC)
    log_in(emulator)  # the new limit applies from the next login
    assert emulator.active_sessions()[0]["session-time-left"] == "1h50m"  # 2h less the 10m used


async def test_a_reboot_forgets_sessions_and_hosts_keeps_users_and_counts_the_uptime(emulator, clock):
    add_user(emulator, **{"limit-uptime": "1h"})
    emulator.connect_device(MAC, IP)
    log_in(emulator)
    clock.advance(minutes=20)
    emulator.reboot()
    assert emulator.active_sessions() == [] and emulator.console("/ip/hotspot/host/print").rows == []
    user = emulator.console("/ip/hotspot/user/print").rows[0]
    assert user["uptime"] == "20m"
    assert emulator.console("/system/resource/print").rows[0]["uptime"] == "0s"
    emulator.connect_device(MAC, IP)
    log_in(emulator)
    assert emulator.active_sessions()[0]["session-time-left"] == "40m"


async def test_traffic_counts_and_a_byte_limit_ends_the_session(emulator):
    add_user(emulator, **{"limit-bytes-total": "1000000"})
    emulator.connect_device(MAC, IP)
    log_in(emulator)
    emulator.traffic(MAC, 300_000, 500_000)
    session = emulator.active_sessions()[0]
    assert (session["bytes-in"], session["bytes-out"]) == ("300000", "500000")
    emulator.traffic(MAC, 100_000, 100_000)
    assert not emulator.has_access(MAC) and emulator.ended[-1]["cause"] == "traffic-limit"
    with pytest.raises(Trap, match="has reached traffic limit"):
        log_in(emulator)


async def test_a_byte_limit_changed_on_the_user_applies_from_the_next_login(emulator):
    add_user(emulator, **{"limit-bytes-total": "1000000"})
    emulator.connect_device(MAC, IP)
    log_in(emulator)
    emulator.traffic(MAC, 400_000, 400_000)
    emulator.console("/ip/hotspot/user/set", {"numbers": MAC, "limit-bytes-total": "3000000"})
    emulator.traffic(MAC, 100_000, 100_000)
    assert not emulator.has_access(MAC) and emulator.ended[-1]["cause"] == "traffic-limit"
    log_in(emulator)  # the new limit, counted against all the user moved
    assert emulator.active_sessions()[0]["limit-bytes-total"] == "3000000"
    emulator.traffic(MAC, 1_000_000, 999_999)
    assert emulator.has_access(MAC)
    emulator.traffic(MAC, 0, 1)
    assert not emulator.has_access(MAC)


async def test_a_bypassed_binding_gives_access_without_a_session(emulator):
    binding = emulator.console("/ip/hotspot/ip-binding/add", {"mac-address": MAC, "type": "bypassed"}).ret
    assert emulator.has_access(MAC) and emulator.active_sessions() == []
    emulator.console("/ip/hotspot/ip-binding/disable", {".id": binding})
    assert not emulator.has_access(MAC)


# -- test hooks -----------------------------------------------------------------------------------------


async def test_held_replies_make_the_client_time_out_although_the_command_ran(emulator):
    pool = connect(emulator, timeout=0.3)
    await in_thread(pool.get_api)
    emulator.hold_replies()
    with pytest.raises(RouterOsApiConnectionError, match="timed out"):
        await in_thread(lambda: pool.get_api().get_resource("/ip/hotspot/user").add(name="a"))
    assert not pool.connected
    emulator.release_replies()
    assert [row["name"] for row in emulator.console("/ip/hotspot/user/print").rows] == ["a"]


async def test_dropped_connections_and_a_router_that_is_down_are_connection_errors(emulator):
    pool = connect(emulator)
    resource = await in_thread(lambda: pool.get_api().get_resource("/ip/hotspot/user"))
    emulator.drop_connections()
    with pytest.raises(RouterOsApiConnectionError):
        await in_thread(resource.get)
    await emulator.down()
    with pytest.raises(RouterOsApiConnectionError, match="Connection refused"):
        await in_thread(pool.get_api)
    await emulator.up()
    assert await in_thread(lambda: pool.get_api().get_resource("/ip/hotspot/user").get()) == []
    pool.disconnect()


async def test_injected_traps_and_fatals_hit_the_next_matching_command_only(emulator):
    emulator.inject_trap("/ip/hotspot/user/print", "something broke", 4)
    emulator.inject_fatal("/ip/hotspot/host/print")
    pool = connect(emulator)
    users = await in_thread(lambda: pool.get_api().get_resource("/ip/hotspot/user"))
    with pytest.raises(RouterOsApiCommunicationError) as caught:
        await in_thread(users.get)
    assert caught.value.original_message == b"something broke"
    assert await in_thread(users.get) == []
    hosts = await in_thread(lambda: pool.get_api().get_resource("/ip/hotspot/host"))
    with pytest.raises(RouterOsApiParsingError):  # routeros-api can't read a real `!fatal`
        await in_thread(hosts.get)
    pool.disconnect()


# -- librouteros ----------------------------------------------------------------------------------------


async def test_librouteros_adds_updates_selects_and_removes(emulator):
    def work():
        api = librouteros.connect("127.0.0.1", "admin", "secret", port=emulator.port)
        users = api.path("ip", "hotspot", "user")
        first = users.add(name="a", comment="one")
        second = users.add(name="b", **{"mac-address": MAC})
        users.update(**{".id": first, "comment": "two"})
        key = librouteros.query.Key
        found = list(users.select(key("name"), key("comment")).where(key("mac-address") == MAC))
        users.remove(first, second)
        left = list(users)
        api.close()
        return found, left

    found, left = await in_thread(work)
    assert found == [{"name": "b"}]
    assert left == []


# -- API-SSL and fetch ----------------------------------------------------------------------------------


async def test_api_ssl_serves_routeros_api_over_tls(clock, tmp_path):
    router = RouterEmulator(clock, ssl_context=self_signed_context(tmp_path))
    await router.start()
    pool = routeros_api.RouterOsApiPool(
        "127.0.0.1",
        "admin",
        "secret",
        port=router.port,
        plaintext_login=True,
        use_ssl=True,
        ssl_verify=False,
        ssl_verify_hostname=False,
    )
    identity = await in_thread(lambda: pool.get_api().get_resource("/system/identity").get())
    pool.disconnect()
    assert identity == [{"name": "MikroTik"}]
    await router.stop()


@get("/hotspot/login.html", sync_to_thread=False)
def login_page() -> Response:
    return Response("<html>redirect</html>", media_type="text/html")


async def test_tool_fetch_downloads_a_file_over_http_onto_the_router(emulator):
    async with serving(Litestar([login_page], logging_config=None)) as base:
        wire = await Wire.open(emulator)
        replies = await wire.ask(
            "/tool/fetch", f"=url={base}/hotspot/login.html", "=dst-path=hotspot/login.html"
        )
        missing = await wire.ask("/tool/fetch", f"=url={base}/nothing", "=dst-path=x")
        await wire.close()
    assert replies[0][:2] == ["!re", "=status=finished"] and replies[-1] == ["!done"]
    assert emulator.files["hotspot/login.html"] == b"<html>redirect</html>"
    listed = emulator.console("/file/print", queries=["name=hotspot/login.html"]).rows[0]
    assert listed["contents"] == "<html>redirect</html>" and listed["type"] == ".html file"
    assert missing[0][1].startswith("=message=failure: closing connection: <404")
