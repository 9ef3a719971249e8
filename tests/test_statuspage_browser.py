"""The status page in a real browser: Debian's Chromium, headless, driven by Playwright.

The page is served by the real :func:`~taskwatch.web.server.build_app` on 127.0.0.1 from the
realistic
snapshot of :mod:`tests.test_statuspage`; the test reads the DOM as the browser built it (so an
unescaped ``<script>`` would have run) and keeps a full-page screenshot at
``test-artifacts/status-page.png`` for a person to look at. A second test loads it over TLS with
basic auth, as an operator's browser would.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (installed by
:func:`tests.components.require_binary` when missing and root) through ``executable_path``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry

from taskwatch.metrics.registry import Metrics
from taskwatch.web.server import build_app, serve
from taskwatch.web.webconfig import load_web_config
from tests.components import missing, require_binary
from tests.test_statuspage import HOSTILE_ID, FixedStatus, Healthy, scenario
from tests.test_webconfig import PASSWORD, Pki, tls_and_auth, write_config
from tests.test_webconfig import pki as pki  # the fixture

if TYPE_CHECKING:
    from playwright.async_api import Browser, Locator

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SCREENSHOT = ARTIFACTS / "status-page.png"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    chromium = require_binary("chromium", "chromium")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the Python package playwright is not installed (pip install -e '.[dev]')")
    home = tmp_path / "home"  # Chromium litters $HOME (crash reports, dconf) even so
    home.mkdir()
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=FLAGS,
            env={**os.environ, "HOME": str(home)},
        )
        try:
            yield launched
        finally:
            await launched.close()


async def cells(row: Locator) -> list[str]:
    """The row's cells' text, as rendered."""
    return [t.strip() for t in await row.locator("td").all_inner_texts()]


async def test_the_status_page_renders_in_chromium_and_is_kept_as_a_screenshot(
    browser: Browser,
) -> None:
    view = FixedStatus(scenario())
    app = build_app(metrics=Metrics(CollectorRegistry()), health=Healthy(), status=view)
    async with serve(app, "127.0.0.1:0") as server:
        page = await browser.new_page(viewport={"width": 1360, "height": 900})
        response = await page.goto(f"{server.url}/")
        assert response is not None
        assert response.status == 200
        assert await page.title() == "taskwatch status"

        # each heading's own text, without its note
        headings = await page.eval_on_selector_all(
            "h2", "hs => hs.map(h => h.firstChild.textContent.trim())"
        )
        assert headings == [
            "Sources",
            "Tasks",
            "Top spenders now",
            "Oldest running tasks",
            "Oldest waiting tasks",
            "Policies",
            "Saved in the last 24 h",
            "Recent actions",
        ]
        assert await page.locator("#sources tbody tr").count() == 3
        failing = page.locator("#sources tbody tr", has_text="main/dlc/ap-guangzhou")
        assert (await cells(failing))[1] == "failing"

        oldest = page.locator("#oldest tbody tr")
        assert await cells(oldest.first) == [
            "live",
            "main / ap-guangzhou",
            "pull-3f9e2b",
            "PullLivePushLive",
            "active",
            "2d 2h",
        ]
        hostile = oldest.filter(has_text="window.pwned=1")
        assert (await cells(hostile))[2] == HOSTILE_ID  # shown as text...
        assert await page.evaluate("() => window.pwned") is None  # ...never run
        assert await page.locator("script").count() == 0

        spenders = page.locator("#spenders tbody tr")
        assert (await cells(spenders.first))[:6] == [
            "mps",
            "main / global",
            "2600011633-LiveStreamProcess-9f1c0e",
            "LiveStreamProcessTask",
            "1.20 CNY/h",
            "11.40 CNY",
        ]
        spender = spenders.filter(has_text="window.pwned=1")
        assert (await cells(spender))[2] == HOSTILE_ID  # escaped here too: text, never run
        note = await page.locator("#spenders h2 .note").inner_text()
        assert "estimates from list prices, not a bill" in note
        saved = await cells(page.locator("#saved tbody tr").first)
        assert saved == ["abort-long-live-processing", "14.40 CNY", "none", "1"]
        assert "counters" in await page.locator("#saved h2 .note").inner_text()

        policy = page.locator("#policies tbody tr").first
        assert await cells(policy) == [
            "abort-long-live-processing",
            "mps",
            "abort",
            "enforce",
            "5m",
            "10 per cycle, 50 per hour, 20 % per cycle",
        ]

        newest = await cells(page.locator("#actions tbody tr").first)
        assert newest == [
            "2027-01-15 07:58:00 (2m ago)",
            "delete-stale-pulls",
            "delete dry-run",
            "skipped_cap",
            "pull-3f9e2b\nlive · main / ap-guangzhou",
            "",
        ]

        # The stylesheet (a separate resource) was applied: sections are white cards.
        background = await page.eval_on_selector("section", "e => getComputedStyle(e).background")
        assert "rgb(255, 255, 255)" in background

        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert SCREENSHOT.stat().st_size > 20_000


async def test_the_status_page_behind_tls_and_basic_auth_in_chromium(
    browser: Browser, pki: Pki, tmp_path: Path
) -> None:
    from playwright.async_api import Error

    config = load_web_config(write_config(tmp_path, tls_and_auth(pki)))
    view = FixedStatus(scenario())
    app = build_app(metrics=Metrics(CollectorRegistry()), health=Healthy(), status=view)
    async with serve(app, "127.0.0.1:0", web_config=config) as server:
        # Chromium does not trust the test's self-signed certificate (aiohttp and curl verify it
        # in test_webconfig); what is checked here is the browser's basic-auth flow.
        anonymous = await browser.new_context(ignore_https_errors=True)
        # Without credentials Chromium gets the 401 challenge and, under Playwright, cancels it.
        with pytest.raises(Error, match="ERR_INVALID_AUTH_CREDENTIALS"):
            await (await anonymous.new_page()).goto(f"{server.url}/")
        assert view.calls == 0

        operator = await browser.new_context(
            ignore_https_errors=True,
            http_credentials={"username": "prometheus", "password": PASSWORD},
        )
        page = await operator.new_page()
        response = await page.goto(f"{server.url}/")
        assert response is not None
        assert response.status == 200
        assert response.headers["x-frame-options"] == "deny"
        assert await page.locator("#policies tbody tr").count() == 3
        background = await page.eval_on_selector("section", "e => getComputedStyle(e).background")
        assert "rgb(255, 255, 255)" in background  # status.css came through the auth too
