"""The API's docs as a developer reads them from the box: the OpenAPI document, the page, the problem
types' URIs, and the answers under /api that no handler gives."""

import re

from portal.web.api import openapi
from portal.web.api.problems import KINDS
from tests.web.api.conftest import problem


async def test_the_openapi_document_is_served_without_a_token(api):
    served = await api.http.get(f"{api.base}/openapi.json")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    assert served.json() == openapi()
    assert served.json()["openapi"].startswith("3.1")


async def test_the_docs_page_documents_every_operation_and_problem_type_from_the_box_alone(api):
    page = await api.http.get(f"{api.hotspot.portal.base_url}/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    for path, item in openapi()["paths"].items():
        for method, operation in item.items():
            assert f">{method.upper()}</span> <code>{path}</code>" in html
            assert operation["security"][0]["bearer"][0] in html
    for kind in KINDS:
        assert f'id="problem-{kind.name}"' in html
    for language in ("curl", "Python (httpx)", "Node (fetch)", "PHP (curl)"):
        assert f"<summary>{language}</summary>" in html
    assert f"export PORTAL_API={api.base}" in html
    # Nothing is loaded from elsewhere: no scripts, styles, fonts or images by address.
    assert not re.search(r"<script|<link|<img|@import|url\(", html)


async def test_each_problem_type_leads_to_its_section_of_the_docs(api):
    for kind in KINDS:
        followed = await api.http.get(f"{api.hotspot.portal.base_url}/api/problems/{kind.name}")
        assert followed.status_code == 302
        assert followed.headers["location"] == f"/api/docs#problem-{kind.name}"
    unknown = await api.http.get(f"{api.hotspot.portal.base_url}/api/problems/no-such-thing")
    problem(unknown, 404, "not-found")


async def test_a_path_under_api_that_is_not_there_answers_a_problem_not_a_page(api):
    problem(await api.get("/nothing-here"), 404, "not-found")
    problem(await api.http.get(f"{api.hotspot.portal.base_url}/api/nothing"), 404, "not-found")
    wrong_method = await api.http.put(f"{api.base}/payments", headers=api.headers())
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"
    assert wrong_method.json()["type"] == "about:blank"


async def test_options_needs_no_token_and_names_the_methods(api):
    for path in ("/payments", "/payments/1", "/access/1"):
        for token in ({}, api.headers()):
            answered = await api.http.options(f"{api.base}{path}", headers=token)
            assert answered.status_code == 204, (path, answered.text)
            assert "OPTIONS" in answered.headers["allow"]
