"""The work-order list at the sizes a technician has: every id readable at 80×24."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.tui.helpers import ORDERS, make_app, screen_text, text_of, until

pytestmark = pytest.mark.anyio

# Ids, statuses and an address as long as a real CIS export has them (examples/).
CIS_LIKE = (
    replace(
        ORDERS[0],
        work_order_id="WO-2026-10401",
        account_number="101-1533-14",
        service_address="1200 Harbour View Boulevard, Building C, Suite 410",
        status="dispatched",
        service_type=ORDERS[2].service_type,  # 3ph-4w-delta: the longest type name
    ),
    *ORDERS[1:],
)


async def _listed(app: Any, pilot: Any) -> list[str]:
    await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"), what="orders")
    await pilot.pause()
    return screen_text(app).splitlines()


async def test_the_first_rows_order_and_account_are_on_screen_at_80x24() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        lines = await _listed(app, pilot)
    # Rendered at 80 columns: what is in the text is what the technician can see.
    first = next(n for n, line in enumerate(lines) if "WO-1001" in line)
    shown = "\n".join(lines[first : first + 2])
    for field in ("WO-1001", "200-0193-11", "900 Mill Road, Unit B", "M16-0054321"):
        assert field in shown, f"{field} not on the first row at 80x24:\n{shown}"
    for field in ("3ph-4w-wye", "overdue", "open", "investigate"):
        assert field in shown
    assert "Order" in lines[first - 2]
    assert "Account" in lines[first - 1]


async def test_long_ids_fit_80_columns_and_the_address_is_whole_under_the_list() -> None:
    app = make_app(orders=CIS_LIKE)
    async with app.run_test(size=(80, 24)) as pilot:
        lines = await _listed(app, pilot)
        detail = text_of(app, "#wo-detail").replace("\n", " ")
    first = next(n for n, line in enumerate(lines) if "WO-2026-10401" in line)
    shown = "\n".join(lines[first : first + 2])
    for field in ("WO-2026-10401", "101-1533-14", "M16-0054321", "3ph-4w-delta", "dispatched"):
        assert field in shown, f"{field} not on the first row at 80x24:\n{shown}"
    assert "1200 Harbour View" in shown
    assert "Suite 410" not in shown  # cut short in the table…
    assert "…" in shown
    assert "1200 Harbour View Boulevard, Building C, Suite 410" in detail  # …whole under it


async def test_a_wide_terminal_has_one_line_per_order() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        lines = await _listed(app, pilot)
    row = next(line for line in lines if "WO-1001" in line)
    for field in ("200-0193-11", "900 Mill Road, Unit B", "investigate", "M16-0054321", "open"):
        assert field in row


async def test_the_layout_follows_the_terminal_when_it_is_resized() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _listed(app, pilot)
        await pilot.press("down")  # the technician's place in the list survives the resize
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert "WO-1002" in text_of(app, "#wo-detail")
    first = next(n for n, line in enumerate(lines) if "WO-1001" in line)
    assert "200-0193-11" in lines[first + 1]  # account under the order: two lines an order
