from dataclasses import asdict

from portal.catalog.packages import Package
from portal.web.admin.catalog import package_fields, read_package

FORM = {
    "name": "  Day   pass ",
    "price": "50",
    "duration": "1",
    "duration_unit": "days",
    "rate_limit": "2M/4M",
    "data_cap": "500",
    "data_cap_unit": "MB",
}


def test_a_package_form_becomes_seconds_bytes_and_shillings():
    spec, errors = read_package(FORM)
    assert errors == {}
    assert (spec.name, spec.price, spec.duration_seconds, spec.data_cap_bytes) == (
        "Day pass",
        50,
        86400,
        500 * 10**6,
    )


def test_a_stored_package_fills_its_form_back_in_the_largest_whole_unit():
    spec, _ = read_package(
        {**FORM, "duration": "90", "duration_unit": "minutes", "data_cap": "3", "data_cap_unit": "GB"}
    )
    stored = Package(id=1, tenant_id=1, position=1, hidden=False, removed_at=None, **asdict(spec))
    fields = package_fields(stored)
    assert (fields["duration"], fields["duration_unit"]) == ("90", "minutes")
    assert (fields["data_cap"], fields["data_cap_unit"]) == ("3", "GB")
    assert read_package(fields)[0] == spec


def test_prices_and_durations_outside_what_m_pesa_and_the_router_take_are_refused():
    for field, value in [("price", "250001"), ("price", "9.5"), ("duration", "367"), ("rate_limit", "1M 2M")]:
        spec, errors = read_package({**FORM, field: value})
        assert spec is None and field in errors, (field, value)
