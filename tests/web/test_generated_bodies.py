"""Bodies Hypothesis makes up, thrown at every hook, every customer form and every admin form (signed in as
the owner, with a valid CSRF token): none is answered with a 5xx.

In process (Litestar's test client, Daraja's simulator behind an ASGI transport), so a few thousand
requests take seconds rather than minutes. The shapes are Daraja's, with any JSON where a value goes,
and plain bytes and JSON of any shape besides.
"""

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from portal import settings as config
from portal.access import routers
from portal.app import create_app
from portal.billing import payments
from portal.catalog import packages
from portal.cli.demo import DEMO_DEVICE, DEMO_ROUTER, connect, seed
from portal.clock import FixedClock
from portal.mpesa import accounts
from portal.mpesa.form import SECRETS
from portal.sim.daraja import create_simulator
from portal.vault import Vault, new_token
from tests.conftest import execute, free_port
from tests.web.admin.client import csrf_of

EXAMPLES = 400  # per hook and per form: 9 targets, 3,600 requests

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=16,
)
# What Daraja sends where it sends it, and what it must not.
plausible = st.sampled_from(
    [
        0,
        "0",
        "0.0",
        0.0,
        1032,
        "2032",
        20,
        "20.00",
        1e30,
        -5,
        "TJ3MX6CLYC",
        254708374149,
        "2547 ***** 126",
        "",
    ]
)
values = plausible | any_json


def shaped(required: list[str], optional: list[str], **inner: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """Daraja's fields (those it always sends, then some of the rest) with any values, and the nested
    objects `inner` names."""
    fields = {name: values for name in optional} | inner
    return st.fixed_dictionaries({name: values for name in required}, optional=fields)


def items(key: str, names: list[str]) -> st.SearchStrategy[list]:
    return st.lists(
        st.fixed_dictionaries({key: st.sampled_from(names) | values, "Value": values}), max_size=6
    )


stk = st.fixed_dictionaries(
    {
        "Body": st.fixed_dictionaries(
            {
                "stkCallback": shaped(
                    ["CheckoutRequestID", "ResultCode"],
                    ["MerchantRequestID", "ResultDesc"],
                    CallbackMetadata=st.fixed_dictionaries(
                        {
                            "Item": items(
                                "Name", ["Amount", "MpesaReceiptNumber", "PhoneNumber", "TransactionDate"]
                            )
                        }
                    ),
                )
            }
        )
    }
)
c2b = shaped(
    ["TransID", "TransAmount"],
    ["TransTime", "BusinessShortCode", "BillRefNumber", "MSISDN", "FirstName", "TransactionType",
     "ThirdPartyTransID"],
)  # fmt: skip
status = st.fixed_dictionaries(
    {
        "Result": shaped(
            ["ResultCode"],
            ["ResultDesc", "ConversationID", "TransactionID"],
            ResultParameters=st.fixed_dictionaries(
                {
                    "ResultParameter": items(
                        "Key",
                        ["ReceiptNo", "TransactionStatus", "Amount", "CreditPartyName", "FinalisedTime"],
                    )
                }
            ),
        )
    }
)


def bodies(shape: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    as_json = (shape | any_json).map(lambda value: json.dumps(value).encode())
    return as_json | st.binary(max_size=300)


FORM_FIELDS = ["router", "mac", "ip", "link-orig", "lang", "package", "phone", "code", "receipt"]


@dataclass
class Box:
    client: AsyncTestClient
    stk: str
    c2b: str
    check: str
    ref: str
    device: dict
    owner: tuple[str, str]  # email, password


@pytest.fixture
async def box(settings, clock, vault):
    """The demo business, in process, with a payment waiting for its callback and a receipt being asked
    about: every hook has something to find."""
    daraja = httpx.ASGITransport(app=create_simulator(clock))
    # Callbacks to an address nobody answers: the simulator's are not what is under test here.
    server = replace(settings.server, public_url="http://127.0.0.1:9")
    app = create_app(replace(settings, server=server), clock=clock, vault=vault, http_transport=daraja)
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        store = services.store
        services.jobs.scheduler.pause()
        demo = await store.write(seed, clock)
        await store.write(connect, clock, vault, demo.tenant_id, "http://daraja.test", free_port(), "secret")
        [package, *_] = await store.read(packages.for_sale, demo.tenant_id)
        router = await store.read(routers.by_name, DEMO_ROUTER)
        payment = await services.checkout.start(
            tenant_id=demo.tenant_id,
            package_id=package.id,
            phone="0708374149",
            router_id=router.id,
            mac=DEMO_DEVICE[0],
            ip=DEMO_DEVICE[1],
        )
        account = await store.read(accounts.get, payment.mpesa_account_id)
        check = new_token()
        await execute(
            store,
            "INSERT INTO receipt_checks (tenant_id, mpesa_account_id, payment_id, receipt, token, asked_by,"
            " created_at) VALUES (?, ?, ?, 'TJ3MX6CLYC', ?, 'owner', '2026-01-05T09:00:00.000000+00:00')",
            (demo.tenant_id, account.id, payment.id, check),
        )
        yield Box(
            client,
            stk=await store.read(payments.callback_token, payment.id),
            c2b=account.c2b_token,
            check=check,
            ref=payment.ref,
            device={
                "router": DEMO_ROUTER,
                "mac": DEMO_DEVICE[0],
                "ip": DEMO_DEVICE[1],
                "package": str(package.id),
            },
            owner=(demo.admin_email, demo.admin_password),
        )


HOOKS = {
    "/hooks/stk/{stk}": stk,
    "/hooks/c2b/{c2b}/validation": c2b,
    "/hooks/c2b/{c2b}/confirmation": c2b,
    "/hooks/status/{check}/result": status,
    "/hooks/status/{check}/timeout": status,
}


@pytest.mark.parametrize("hook", list(HOOKS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_no_body_makes_a_hook_answer_a_5xx(box, hook, data):
    body = data.draw(bodies(HOOKS[hook]), label="body")
    path = hook.format(stk=box.stk, c2b=box.c2b, check=box.check)
    response = await box.client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text


FORMS = ["/pay", "/reconnect", "/pay/{ref}/retry", "/pay/{ref}/receipt"]


@pytest.mark.parametrize("form", FORMS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_no_form_makes_a_customer_page_answer_a_5xx(box, form, data):
    typed = data.draw(
        st.dictionaries(st.sampled_from([*FORM_FIELDS, "other"]), st.text(max_size=60)), label="form"
    )
    device = data.draw(st.sampled_from([box.device, {}]), label="device")
    ref = data.draw(st.sampled_from([box.ref]) | st.text(min_size=1, max_size=30), label="ref")
    path = form.format(ref=quote(ref, safe=""))
    response = await box.client.post(path, data=device | typed)
    assert response.status_code < 500, response.text


ADMIN_EXAMPLES = 40  # per admin form: 51 forms, about 2,000 requests
# Every field name the admin's forms have (named in their templates, the credentials' in mpesa/form.py),
# and one no form has.
NAMED = re.compile(r'(?:name="|\b(?:input|select|secret)\(")(\w+)')
TEMPLATES = Path(__file__).parents[2] / "templates" / "admin"
NAMES = {name for page in TEMPLATES.glob("*.html") for name in NAMED.findall(page.read_text())}
ADMIN_FIELDS = [*sorted(NAMES - {"csrf"}), *SECRETS, "other"]
form_values = plausible.map(str) | st.text(max_size=60)


def admin_forms() -> list[str]:
    """Every form the admin posts to, as its route's path."""
    # Built, not started: nothing is opened.
    app = create_app(config.load(None, environ={}), clock=FixedClock(), vault=Vault([Fernet.generate_key()]))
    return [
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute) and "POST" in route.methods and route.path.startswith("/admin")
    ]


@pytest.fixture
async def signed_in(box):
    """The box, its owner signed in: the CSRF token every admin form carries."""
    login = await box.client.get("/admin/login")
    form = {"email": box.owner[0], "password": box.owner[1], "csrf": csrf_of(login.text)}
    dashboard = await box.client.post("/admin/login", data=form, follow_redirects=True)
    assert dashboard.url.path == "/admin"
    return csrf_of(dashboard.text)


@pytest.mark.parametrize("form", admin_forms())
@settings(
    max_examples=ADMIN_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_no_form_makes_an_admin_page_answer_a_5xx(box, signed_in, form, data):
    typed = data.draw(st.dictionaries(st.sampled_from(ADMIN_FIELDS), form_values), label="form")
    # The demo's own rows (1, 2) and ones nobody has, for every id in the path.
    ids = st.sampled_from(["1", "2"]) | st.integers(-1, 2**63).map(str) | st.text(min_size=1, max_size=20)
    path = re.sub(r"\{[^}]+\}", lambda _: quote(data.draw(ids, label="id"), safe=""), form)
    response = await box.client.post(path, data={**typed, "csrf": signed_in})
    assert response.status_code < 500, response.text
