"""What the customer reads when Daraja turns the push away (reference/daraja.md §1, §3.3, §10.5): the
truth, and only the next step that can work."""

import pytest

from portal.cli.demo import DEMO_DEVICE
from tests.web.test_splash import answer, device_form, online, pay, status


@pytest.mark.parametrize("fault", ["too_many_requests", "server_error", "unavailable"])
async def test_a_push_the_gateway_turned_away_says_so_at_once_and_the_phone_may_pay_again(
    http, hotspot, fault
):
    hotspot.daraja.sim.fail_next(fault)
    location = (await pay(http, hotspot)).headers["location"]
    said = await status(http, hotspot, location)
    assert (said["state"], said["message"]) == (
        "failed",
        "M-Pesa is busy. No money was taken. Try again in a minute.",
    )
    page = await http.get(hotspot.portal.base_url + location)
    assert "Enter your M-Pesa PIN" not in page.text and "Try again</button>" in page.text
    again = await http.post(
        f"{hotspot.portal.base_url}{location.split('?')[0]}/retry", data=device_form(hotspot)
    )
    assert again.status_code == 303 and again.headers["location"] != location
    await answer(hotspot, "success")
    await online(hotspot)


async def test_an_invalid_phone_number_offers_another_number_and_blames_nothing_of_the_hotspot(http, hotspot):
    hotspot.daraja.sim.options.not_on_mpesa = {"254712345678"}
    location = (await pay(http, hotspot)).headers["location"]
    page = await http.get(hotspot.portal.base_url + location)
    assert "M-Pesa does not take payments from this phone number. No money was taken." in page.text
    assert "Use another number" in page.text
    assert "attendant" not in page.text and "Try again</button>" not in page.text
    other = await pay(http, hotspot, phone="0712 345 679")
    assert other.status_code == 303
    assert [prompt.phone for prompt in hotspot.daraja.sim.pending_prompts()] == ["254712345679"]
    await answer(hotspot, "success")
    await online(hotspot, DEMO_DEVICE[0])
