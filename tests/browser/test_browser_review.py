"""An office user's morning in headless Chromium: log in, the exceptions queue and its
filters, a visit with its phasor diagram, its review status, the report's CSV; and the
pages at an office screen's and a tablet's size."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Office, log_in, screenshot
from tests.server.conftest import PASSWORD

pytestmark = pytest.mark.sim


def no_horizontal_overflow(page: Any) -> None:
    """The page fits its viewport's width (nothing to scroll sideways)."""
    scroll, width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= width, f"the page is {scroll}px wide in a {width}px viewport"


def test_logged_out_users_are_sent_to_the_login_page(page_for: Any, office: Office) -> None:
    page = page_for()
    page.goto("/exceptions?check=polarity")
    assert "/login" in page.url
    assert page.locator("input[name=username]").is_visible()
    screenshot(page, "login")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.content()
    # The right password lands on the page first asked for, filter and all.
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/exceptions?check=polarity")
    assert page.locator("select[name=check]").input_value() == "polarity"


def test_the_exceptions_queue_lists_the_field_problems_and_filters(
    page_for: Any, office: Office
) -> None:
    page = page_for()
    log_in(page, "olga")
    rows = page.locator("table.exceptions tbody tr")
    # Every faulty site is in the queue; the healthy one is not.
    assert rows.count() == 5
    text = page.locator("table.exceptions").inner_text()
    for meter in ("M16-0065432", "M2S-0034567", "M2S-0078901", "M16-0076543", "M2S-0045678"):
        assert meter in text
    assert "M2S-0012345" not in text
    screenshot(page, "exceptions")
    no_horizontal_overflow(page)

    page.select_option("select[name=check]", "polarity")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**check=polarity**")
    assert rows.count() == 1
    assert "M16-0065432" in rows.first.inner_text()
    assert "polarity" in rows.first.inner_text()

    page.select_option("select[name=check]", "")
    page.select_option("select[name=kind]", "tamper")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**kind=tamper**")
    assert rows.count() == 1
    assert "M2S-0078901" in rows.first.inner_text()

    # A date range before any visit: an empty queue that says so.
    page.goto("/exceptions?since=2020-01-01&until=2020-01-31")
    assert rows.count() == 0
    assert "matches these filters" in page.locator("main").inner_text()


@pytest.mark.parametrize(
    ("width", "height", "name"), [(1366, 768, "office screen"), (820, 1180, "tablet")]
)
def test_the_queue_fits_an_office_screen_and_a_tablet(
    page_for: Any, office: Office, width: int, height: int, name: str
) -> None:
    page = page_for(width, height)
    log_in(page, "olga")
    assert page.locator("table.exceptions tbody tr").count() == 5
    no_horizontal_overflow(page)
    if name == "tablet":
        screenshot(page, "exceptions-tablet")
