"""What a customer's phone sees, in Debian's headless Chromium against `portal demo`: prints figures.

Usage: scripts/bench-page [--rounds N]

1. Slow 3G (400 kbps each way, 2 s of latency per request, as Chromium's DevTools emulate it): the
   splash until its load event, beside a bare Litestar endpoint under the same conditions, in the
   same run (the floor any page pays). Target: a usable splash within 2.5 s.
2. Approve to online: the customer pays on the splash, the payer approves on the demo's fake phone
   some moment within 2 s (a PIN typed any time in the page's cycle of asking), and the time from that
   approval until the open page says "You're online" (the page learns it by itself), beside one round
   trip of the status request the page makes. Targets: p50 0.5 s, p99 1.5 s.
"""

import argparse
import asyncio
import random
import re
import time

import httpx
from bench_common import ROOT, free_port, percentile, spread, start_bare, stop
from playwright.async_api import Page

from tests.e2e.chromium import PHONE, chromium

SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 50_000, "uploadThroughput": 50_000}


async def main(rounds: int) -> None:
    port, bare_port = free_port(), free_port()
    demo = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv" / "bin" / "portal"), "demo", "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    bare = await start_bare(bare_port)
    try:
        lines = await demo_lines(demo)
        async with chromium(lines["splash"].split("/?")[0]) as browser:
            browser.elsewhere = []  # the bare endpoint is elsewhere on purpose
            await slow_3g(browser, lines["splash"], f"http://127.0.0.1:{bare_port}/healthz")
            browser.elsewhere = []
            await approve_to_online(browser, lines["splash"], lines["phone"], rounds)
            browser.elsewhere = []
    finally:
        await stop(bare)
        await stop(demo)


async def demo_lines(demo: asyncio.subprocess.Process) -> dict[str, str]:
    """What the demo prints once it is up: `name: value` lines up to its router line."""
    lines: dict[str, str] = {}
    async with asyncio.timeout(120):
        while "router" not in lines:
            line = (await demo.stdout.readline()).decode()
            if not line:
                raise SystemExit("portal demo exited before it was up")
            if match := re.match(r"^(\w+): (\S+)", line):
                lines[match.group(1)] = match.group(2)
    return lines


async def load_time(page: Page, url: str) -> float:
    started = time.perf_counter()
    await page.goto(url, wait_until="load")
    return time.perf_counter() - started


async def slow_3g(browser, splash: str, bare: str) -> None:
    timings: dict[str, list[float]] = {"bare": [], "splash": []}
    for _ in range(3):
        for name, url in (("bare", bare), ("splash", splash)):
            page = await browser.page(viewport=PHONE)  # a new context each time: nothing cached
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Network.enable")
            await cdp.send("Network.emulateNetworkConditions", SLOW_3G)
            timings[name].append(await load_time(page, url))
            await page.context.close()
    print("Slow 3G (400 kbps, 2 s latency), load event, best of 3:")
    best_bare, best_splash = min(timings["bare"]), min(timings["splash"])
    print(f"  baseline: a bare Litestar endpoint  {best_bare:.2f} s")
    print(f"  the splash (packages and the form)  {best_splash:.2f} s  ({best_splash / best_bare:.2f}x)")


async def approve_to_online(browser, splash: str, phone: str, rounds: int) -> None:
    page = await browser.page(viewport=PHONE)
    waits, round_trips = [], []
    async with httpx.AsyncClient() as http:
        for _ in range(rounds):
            await page.goto(splash + "&more=1")
            await page.locator("label.package").first.click()
            await page.fill("#phone", "0712345678")
            await page.click("#pay")
            await page.wait_for_url(re.compile(r"/pay/"))
            status = page.url.split("?")[0] + "/status"
            started = time.perf_counter()
            await http.get(status)
            round_trips.append(time.perf_counter() - started)
            prompt = await newest_prompt(http, phone)
            await asyncio.sleep(random.uniform(0, 2))
            approved = time.perf_counter()
            await http.post(prompt, data={"outcome": "success"})
            await page.wait_for_function("document.title.startsWith('You\\'re online')", polling=20)
            waits.append(time.perf_counter() - approved)
    print(f"Approve on the phone to 'You're online' on the page, {rounds} payments:")
    print(f"  baseline: one status request        {spread(round_trips)}")
    print(f"  approve to online                   {spread(waits)}")
    print(f"  p50 {percentile(waits, 0.5) / percentile(round_trips, 0.5):.0f}x the status request")


async def newest_prompt(http: httpx.AsyncClient, phone: str) -> str:
    """The fake phone's open prompt (it shows the newest first), as the URL its Pay button posts to."""
    async with asyncio.timeout(10):
        while True:
            actions = re.findall(r'action="(/phone/prompts/[^"]+)"', (await http.get(phone)).text)
            if actions:
                return phone.removesuffix("/phone") + actions[0]
            await asyncio.sleep(0.01)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(parser.parse_args().rounds))
