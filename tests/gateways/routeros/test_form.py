"""The settings form of a MikroTik router: what it takes, what it explains, and when a stored password
may stay."""

from dataclasses import replace

import pytest

from portal.gateways.routeros.form import RETYPE_PASSWORD, read_router, router_fields

FORM = {
    "name": "cafe-main",
    "host": "192.168.88.1",
    "port": "",
    "username": "portal-api",
    "password": "s3cret",
    "hotspot_server": "",
    "mpesa_account_id": "",
}


def saved(**changes: str):
    """The router as stored after the form was first saved (the password stays in the vault)."""
    spec, errors = read_router(FORM | changes, stored=None)
    assert errors == {}
    return replace(spec, password=None)


def test_an_empty_port_is_the_apis_own_and_an_empty_hotspot_server_means_all():
    plain, _ = read_router(FORM, stored=None)
    over_tls, _ = read_router(FORM | {"use_tls": "on"}, stored=None)
    assert (plain.port, plain.use_tls, over_tls.port, over_tls.use_tls) == (8728, False, 8729, True)
    assert (plain.hotspot_server, plain.password, plain.mpesa_account_id) == ("all", "s3cret", None)


@pytest.mark.parametrize("host", ["192.168.88.1", "fe80::1", "router.lan", "hap-ac2"])
def test_a_router_is_reached_by_address_or_name(host):
    spec, errors = read_router(FORM | {"host": host}, stored=None)
    assert errors == {} and spec.host == host


def test_every_mistake_is_explained_on_its_own_field():
    typed = {"name": "café main", "host": "not a host!", "port": "99999", "username": ""}
    typed |= {"password": "", "hotspot_server": "hot spot", "mpesa_account_id": "first"}
    spec, errors = read_router(typed, stored=None)
    assert spec is None
    assert errors == {
        "name": "Use letters, digits, dot, dash or underscore (up to 40), like cafe-main.",
        "host": "Give the router's address on the network, like 192.168.88.1 or router.lan.",
        "port": "A port is a number from 1 to 65535 (the API listens on 8728, or 8729 with TLS).",
        "username": "Give the name of the router user the portal signs in as.",
        "password": "Give that user's password.",
        "hotspot_server": "Give the hotspot server's name as the router shows it, or leave “all”.",
        "mpesa_account_id": "Pick an M-Pesa account from the list.",
    }
    assert read_router(FORM | {"port": "٨٧٢٨"}, stored=None)[1].keys() == {"port"}  # digits, but not ASCII
    assert read_router(FORM | {"password": "x" * 201}, stored=None)[1] == {
        "password": "That password is too long."
    }


def test_a_blank_password_keeps_the_stored_one_while_the_router_stays_where_it_was():
    renamed = {"name": "cafe-2", "hotspot_server": "hotspot1"}
    spec, errors = read_router(FORM | renamed | {"password": ""}, stored=saved())
    assert errors == {} and spec.password is None
    assert (spec.name, spec.hotspot_server) == ("cafe-2", "hotspot1")


@pytest.mark.parametrize(
    "moved",
    [{"host": "192.168.88.66"}, {"port": "18728"}, {"use_tls": "on"}, {"username": "admin"}],
    ids=["host", "port", "tls", "user"],
)
def test_a_router_pointed_elsewhere_needs_its_password_typed_again(moved):
    spec, errors = read_router(FORM | moved | {"password": ""}, stored=saved())
    assert spec is None and errors == {"password": RETYPE_PASSWORD}
    spec, errors = read_router(FORM | moved | {"password": "typed again"}, stored=saved())
    assert errors == {} and spec.password == "typed again"


def test_the_form_shows_a_router_as_it_was_typed_but_never_its_password():
    typed = FORM | {"port": "8729", "use_tls": "on", "hotspot_server": "hotspot1", "mpesa_account_id": "3"}
    spec, _ = read_router(typed, stored=None)
    assert router_fields(spec) == {key: value for key, value in typed.items() if key != "password"}
