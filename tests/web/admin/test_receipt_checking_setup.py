"""An M-Pesa account set up to ask M-Pesa about receipts (Transaction Status) in the admin: the initiator
password is write-only like the other secrets, the certificate is checked and shown, rotations are
audited."""

import json

from portal.app import create_app
from portal.sim.daraja import simulator_certificate
from tests.conftest import rows, serving, value
from tests.seed import seed_tenant
from tests.web.admin.client import browser, csrf_of, sign_in
from tests.web.admin.test_connections import ACCOUNT, everything_stored

STATUS = {"initiator_name": "apiop37", "initiator_password": "ip-first-initiator-password"}


async def test_the_initiator_password_is_write_only_and_a_wrong_certificate_is_explained(
    settings, clock, vault, store
):
    alpha = await seed_tenant(store, clock, vault, "alpha")
    certificate = simulator_certificate()
    async with serving(create_app(settings, clock=clock, vault=vault)) as base, browser() as http:
        csrf = csrf_of((await sign_in(http, base, alpha.owner)).text)
        blank = await http.get(f"{base}/admin/mpesa/new")
        wrong = await http.post(
            f"{base}/admin/mpesa/new", data={**ACCOUNT, **STATUS, "certificate": "my password", "csrf": csrf}
        )
        added = await http.post(
            f"{base}/admin/mpesa/new", data={**ACCOUNT, **STATUS, "certificate": certificate, "csrf": csrf}
        )
        [account] = await rows(store, "SELECT * FROM mpesa_accounts WHERE name = 'Shop till'")
        form = await http.get(f"{base}/admin/mpesa/{account['id']}/edit")
        kept = await http.post(
            f"{base}/admin/mpesa/{account['id']}/edit",
            data={**ACCOUNT, **STATUS, "initiator_password": "", "certificate": certificate, "csrf": csrf}
            | {"consumer_key": "", "consumer_secret": "", "passkey": ""},
        )
        rotated = await http.post(
            f"{base}/admin/mpesa/{account['id']}/edit",
            data={**ACCOUNT, **STATUS, "certificate": certificate, "csrf": csrf}
            | {"consumer_key": "", "consumer_secret": "", "passkey": "", "initiator_password": "ip-second"},
        )
        listed = await http.get(f"{base}/admin/mpesa")
    assert "Getting Started" in blank.text and "Transaction Status query ORG API" in blank.text
    assert wrong.status_code == 400 and "Paste the whole certificate" in wrong.text
    assert "ip-first-initiator-password" not in wrong.text
    assert added.status_code == kept.status_code == rotated.status_code == 200
    assert "-----BEGIN CERTIFICATE-----" in form.text  # public: shown again to be checked
    assert "ip-first" not in form.text and form.text.count('<span class="state state-ok">set</span>') == 4
    [after] = await rows(
        store, "SELECT initiator_password_enc FROM mpesa_accounts WHERE id = ?", (account["id"],)
    )
    assert vault.decrypt(after["initiator_password_enc"]) == "ip-second"
    assert "ip-first" not in await everything_stored(store) and "ip-second" not in await everything_stored(
        store
    )
    detail = await value(
        store, "SELECT detail FROM audit_events WHERE action = 'mpesa_account_credentials_rotated'"
    )
    assert json.loads(detail) == {"rotated": ["initiator_password"]}
    assert 'title="An initiator and Safaricom' in listed.text
