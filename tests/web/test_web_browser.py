"""The console in a real browser: Playwright driving Debian's chromium (`make test` installs
it when /usr/bin/chromium is missing). One browser for the session, a page per test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, copy_database, live_console

TIMEOUT_MS = 30_000  # generous: six engineers share two cores

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package for these tests")
    pytest.skip(f"{CHROMIUM} is missing (`make test` installs it)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser(archive_source) -> Iterator[Browser]:
    # One browser for all the browser tests (they are all here). Module scope, and archive_source
    # first: Playwright's sync API runs an event loop on this thread while it is open, and the
    # other tests need asyncio there.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served(archive_source, tmp_path_factory) -> Iterator[str]:
    database = copy_database(archive_source, tmp_path_factory.mktemp("browser") / "console.db")
    with live_console(database) as url:
        yield url


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    policy_errors: list[str] = []
    opened.on("console", lambda message: policy_errors.append(message.text)
              if "Content Security Policy" in message.text else None)
    yield opened
    context.close()
    assert policy_errors == []  # nothing the page needs was refused by its own CSP


def test_stories_filter_by_rule_then_open_a_story(page, served):
    page.goto(served)
    expect(page.locator("li.story").first).to_be_visible()
    everything = page.locator("li.story").count()
    page.select_option("#rule", "tungsten")  # htmx swaps the list in, no reload
    expect(page.locator("li.story")).not_to_have_count(everything)
    cards = page.locator("li.story")
    assert cards.count() >= 1
    for index in range(cards.count()):
        expect(cards.nth(index).locator(".rule", has_text="tungsten")).to_have_count(1)
    assert "rule=tungsten" in page.url  # the filter is in the address: shareable, back button works
    expect(cards.first.locator("mark").first).to_be_visible()
    cards.first.locator("a.title").click()
    expect(page.locator("h2", has_text="Why it fired")).to_be_visible()
    expect(page.locator("h2", has_text="Notifications")).to_be_visible()
    # One notification for the story on its one channel, naming every rule it carries.
    notification = page.locator("#notifications tbody tr")
    expect(notification).to_have_count(1)
    expect(notification.locator(".rule", has_text="tungsten")).to_have_count(1)
    assert notification.locator(".rule").count() >= 2


def test_retry_a_dead_delivery(page, served):
    page.goto(served + "deliveries?status=dead")
    row = page.locator("tr.status-dead").first
    expect(row).to_be_visible()
    delivery_id = row.get_attribute("data-delivery")
    row.get_by_role("button", name="Retry").click()
    expect(page.locator(".notice")).to_have_text(f"delivery {delivery_id} is due now")
    page.goto(served + "deliveries")
    expect(page.locator(f'tr[data-delivery="{delivery_id}"] .status')).to_have_text("pending")


def test_playground_highlights_as_you_type(page, served):
    page.goto(served + "rules")
    page.fill("#pg-title", "Tungsten deal signed in Gilgit")
    page.locator("#pg-query").press_sequentially("tungsten AND gilgit", delay=20)
    result = page.locator("#playground-result .candidate")
    expect(result).to_contain_text("The query matches")
    expect(result.locator("mark", has_text="Tungsten")).to_be_visible()
    page.fill("#pg-query", "tungsten AND (")
    expect(page.locator("#playground-result .error")).to_contain_text("query:")


def test_a_post_without_the_csrf_token_is_refused(page, served):
    page.goto(served + "deliveries")
    status = page.evaluate("""async () => (await fetch('/deliveries/retry-dead', {method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'x=1'})).status""")
    assert status == 403
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    status = page.evaluate("""async (token) => (await fetch('/deliveries/retry-dead', {method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'csrf_token=' + token})).status""", token)
    assert status == 200


def test_log_in_when_a_password_is_set(browser, archive_source, tmp_path):
    database = copy_database(archive_source, tmp_path / "locked.db")
    with live_console(database, password="desk-password") as url:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url + "feeds")
        assert re.search(r"/login\?next=%2Ffeeds$", page.url)
        page.fill("#password", "wrong")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".error")).to_have_text("wrong password")
        page.fill("#password", "desk-password")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("h1")).to_contain_text("Feeds")
        assert page.url == url + "feeds"
        page.get_by_role("button", name="Log out").click()
        expect(page.locator("h1")).to_have_text("Log in")
        context.close()
