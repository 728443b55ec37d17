"""Each table's SQL lives in the one module that owns it, and the SQL outside the store speaks what every
engine speaks: so "where is rule X" is found from a file name, and a second engine needs no domain code
changed."""

import ast
import re
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parent.parent / "portal"

OWNERS = {
    "tenants": "tenancy/tenants.py",
    "admin_users": "tenancy/admins.py",
    "admin_sessions": "tenancy/admins.py",
    "sign_in_slowdowns": "tenancy/admins.py",
    "audit_events": "tenancy/audit.py",
    "api_clients": "tenancy/api_clients.py",
    "api_usage": "tenancy/api_usage.py",
    "webhook_endpoints": "tenancy/webhooks.py",
    "webhook_messages": "tenancy/webhooks.py",
    "webhook_attempts": "tenancy/webhooks.py",
    "packages": "catalog/packages.py",
    "mpesa_accounts": "mpesa/accounts.py",
    "routers": "access/routers.py",
    "access_sessions": "access/sessions.py",
    "router_tasks": "access/outbox.py",
    "router_task_attempts": "access/outbox.py",
    "payments": "billing/payments.py",
    "payment_events": "billing/payments.py",
    "prompt_earnings": "billing/earnings.py",
    "c2b_payments": "billing/c2b.py",
    "c2b_spends": "billing/c2b.py",
    "vouchers": "billing/vouchers.py",
    "receipt_checks": "billing/receipt_checks.py",
}
# The engine's own modules: its SQL may be its own, and it owns no table (it only creates them).
ENGINE = ("store/sqlite.py", "store/backup.py", "store/migrations/sqlite.py")
# SQL keywords are written in capitals in portal, so prose ("from the payments themselves") never counts.
TABLE_AFTER_KEYWORD = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+([a-z_]+)")
ENGINE_ONLY = re.compile(r"\bPRAGMA\b|\bGLOB\b|json_each|json_extract|randomblob")
ENGINE_ONLY_CODE = re.compile(r"^\s*(?:import|from) sqlite3\b|\.lastrowid\b", re.M)


def sql_in(path: Path) -> list[str]:
    """Every string literal of the module, f-strings' literal parts included, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def modules() -> list[Path]:
    return [path for path in sorted(PORTAL.rglob("*.py")) if "sim" not in path.relative_to(PORTAL).parts]


async def test_every_table_has_an_owner(store):
    tables = await store.read(
        lambda db: db.all("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    )
    assert {row["name"] for row in tables} == set(OWNERS), "a new table needs an owner here"


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PORTAL)))
def test_a_module_names_no_table_but_those_it_owns(path):
    here = str(path.relative_to(PORTAL))
    if here in ENGINE:
        return
    named = {table for text in sql_in(path) for table in TABLE_AFTER_KEYWORD.findall(text) if table in OWNERS}
    strangers = {table for table in named if OWNERS[table] != here}
    assert not strangers, f"{here} has SQL on {sorted(strangers)}: ask their owners ({OWNERS})"


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PORTAL)))
def test_sql_outside_the_engine_is_every_engines_sql(path):
    here = str(path.relative_to(PORTAL))
    if here in ENGINE:
        return
    found = {match.group() for text in sql_in(path) for match in ENGINE_ONLY.finditer(text)}
    found |= {match.group().strip() for match in ENGINE_ONLY_CODE.finditer(path.read_text())}
    assert not found, f"{here} uses what only SQLite has: {sorted(found)}"


def test_web_code_never_decrypts():
    for path in (PORTAL / "web").rglob("*.py"):
        assert ".decrypt(" not in path.read_text(), f"{path}: a secret is the domain's to decrypt"
