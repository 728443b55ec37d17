from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from portal.i18n import formats

NAIROBI = ZoneInfo("Africa/Nairobi")  # UTC+3, no summer time
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # 12:00 in Nairobi
MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "english", "swahili"),
    [
        (0, "less than a minute", "chini ya dakika moja"),
        (59, "less than a minute", "chini ya dakika moja"),
        (MINUTE, "1 minute", "dakika 1"),
        (2 * MINUTE, "2 minutes", "dakika 2"),
        (HOUR - 1, "59 minutes", "dakika 59"),
        (HOUR, "1 hour", "saa 1"),
        (HOUR + 30 * MINUTE, "1 hour 30 minutes", "saa 1 dakika 30"),
        (DAY - 1, "23 hours 59 minutes", "saa 23 dakika 59"),
        (DAY, "1 day", "siku 1"),
        (7 * DAY, "7 days", "siku 7"),
        (2 * DAY + HOUR + MINUTE, "2 days 1 hour 1 minute", "siku 2 saa 1 dakika 1"),
    ],
)
def test_a_customer_reads_a_duration_in_whole_units_largest_first(seconds, english, swahili):
    assert formats.duration("en", seconds) == english
    assert formats.duration("sw", seconds) == swahili


@pytest.mark.parametrize(
    ("name", "seconds", "names_it"),
    [
        ("24 hours", 86400, True),  # not "24 hours · 1 day"
        ("1 Day", 86400, True),
        ("Saa 3", 3 * 3600, True),
        ("90 minutes", 5400, True),
        ("Daily", 86400, False),
        ("24 hours", 7 * 86400, False),
    ],
)
def test_a_package_name_that_says_its_time_is_known_in_any_whole_unit_and_language(name, seconds, names_it):
    assert formats.names_duration(name, seconds) is names_it


@pytest.mark.parametrize(
    ("lang", "name", "seconds", "shown"),
    [
        ("sw", "24 hours", 86400, "saa 24"),  # never "24 hours" beside "siku 1"
        ("sw", "1 hour", 3600, "saa 1"),
        ("en", "Saa 3", 3 * 3600, "3 hours"),
        ("en", "24 hours", 86400, "24 hours"),
        ("sw", "Daily", 86400, "Daily"),  # the owner's own word stays
    ],
)
def test_a_package_named_by_its_time_is_named_in_the_customers_language(lang, name, seconds, shown):
    assert formats.package_name(lang, name, seconds) == shown


@pytest.mark.parametrize(
    ("download_bps", "english"),
    [
        (4_000_000, "up to 4 Mbps"),
        (512_000, "up to 512 Kbps"),
        (1_500_000, "up to 1500 Kbps"),
        (1_000_000_000, "up to 1 Gbps"),
        (256, "up to 256 bps"),
        (0, ""),
    ],
)
def test_a_packages_speed_reads_in_the_largest_whole_unit(download_bps, english):
    assert formats.speed("en", download_bps) == english


def test_a_speed_reads_in_swahili_too():
    assert formats.speed("sw", 4_000_000) == "hadi 4 Mbps"


def test_money_is_whole_shillings_with_thousands_separated():
    assert formats.money(1000) == "KES 1,000"
    assert formats.money(50) == "KES 50"
    assert formats.money(None) == "KES 0"


def test_money_from_an_mpesa_statement_shows_its_cents_only_when_it_has_some():
    assert formats.money(Decimal("3000.00")) == "KES 3,000"
    assert formats.money(Decimal("1234.5")) == "KES 1,234.50"
    assert formats.money(Decimal("0.50")) == "KES 0.50"


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (1_500_000_000, "1.5 GB"),
        (1_000_000_000, "1 GB"),
        (250_000_000, "250 MB"),
        (999_999, "999,999 bytes"),
        (0, ""),
        (None, ""),
    ],
)
def test_a_data_cap_reads_in_gb_or_mb(size, shown):
    assert formats.data_size(size) == shown


def test_a_session_that_ends_today_shows_the_time_only():
    assert formats.end_time(NOW + timedelta(hours=2), NAIROBI, NOW) == "14:00"


def test_a_session_that_ends_another_day_shows_the_date_day_first():
    assert formats.end_time(NOW + timedelta(days=7), NAIROBI, NOW) == "12:00, 10/03/2025"


def test_the_day_is_the_day_in_the_zone_not_in_utc():
    # 22:30 UTC on the 3rd is already 01:30 on the 4th in Nairobi.
    assert formats.end_time(datetime(2025, 3, 3, 22, 30, tzinfo=UTC), NAIROBI, NOW) == "01:30, 04/03/2025"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "1 min"),
        (119, "1 min"),
        (5 * MINUTE, "5 min"),
        (HOUR, "1 h"),
        (2 * HOUR + 30 * MINUTE, "2 h 30 min"),
        (DAY, "1 day"),
        (2 * DAY, "2 days"),
        (3 * DAY + 4 * HOUR, "3 d 4 h"),
    ],
)
def test_an_owner_reads_a_duration_at_a_glance(seconds, shown):
    assert formats.short_duration(seconds) == shown


def test_when_says_today_or_the_date_and_the_year_only_when_it_is_another():
    assert formats.when(NOW - timedelta(hours=1), NAIROBI, NOW) == "today 11:00"
    assert formats.when(NOW - timedelta(days=30), NAIROBI, NOW) == "1 Feb 12:00"
    assert formats.when(NOW - timedelta(days=365), NAIROBI, NOW) == "3 Mar 2024 12:00"
    assert formats.when(None, NAIROBI, NOW) == ""


def test_when_exact_is_to_the_second_in_the_zone():
    assert formats.when_exact(NOW + timedelta(seconds=9), NAIROBI) == "2025-03-03 12:00:09"
    assert formats.when_exact(None, NAIROBI) == ""


def test_a_day_of_earnings_reads_with_its_weekday():
    assert formats.day(date(2025, 3, 3)) == "Mon 3 Mar"


def test_time_left_counts_down_to_ended():
    assert formats.left(NOW + timedelta(hours=2, minutes=30), NOW) == "2 h 30 min"
    assert formats.left(NOW, NOW) == "ended"
    assert formats.left(None, NOW) == ""


def test_ago_says_just_now_within_a_minute_and_never_for_nothing():
    assert formats.ago(NOW - timedelta(seconds=59), NOW) == "just now"
    assert formats.ago(NOW - timedelta(minutes=5), NOW) == "5 min ago"
    assert formats.ago(NOW - timedelta(days=3, hours=4), NOW) == "3 d 4 h ago"
    assert formats.ago(None, NOW) == "never"


def test_an_owner_reads_a_phone_number_the_way_kenyans_write_it():
    assert formats.phone("254712345678") == "0712 345 678"
    assert formats.phone(None) == ""


def test_a_masked_phone_keeps_only_what_its_owner_recognises():
    assert formats.masked_phone("254712345678") == "0712 ••• 678"
    assert "345" not in formats.masked_phone("254712345678")
