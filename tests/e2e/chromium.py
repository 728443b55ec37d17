"""Debian's Chromium, headless, for the browser tests: pages that may fetch from the portal only.

Screenshots go to artifacts/screenshots/ (not committed) for a person to look at.
"""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP, PHONE = {"width": 1280, "height": 800}, {"width": 360, "height": 740}


class Chromium:
    def __init__(self, browser: Browser, home: str):
        self.browser, self.home = browser, home
        self.elsewhere: list[str] = []  # what a page asked of anywhere but the portal

    async def page(self, **context_options) -> Page:
        """A page in a browser context of its own (a device): viewport, JavaScript and so on."""
        context = await self.browser.new_context(**context_options)
        page = await context.new_page()
        page.on("request", self._note)
        return page

    def _note(self, request) -> None:
        if not request.url.startswith(self.home):
            self.elsewhere.append(request.url)


@contextlib.asynccontextmanager
async def chromium(home: str) -> AsyncIterator[Chromium]:
    """Fails the test if any page fetched anything from anywhere but `home` (the portal's base URL)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            running = Chromium(browser, home)
            yield running
        finally:
            await browser.close()
    assert running.elsewhere == []


async def fits_the_screen(page: Page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
