"""The finance-ops console in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright) against the shared UI demo's Airflow (tests/fixtures/demo.py). Every user signs in through
Airflow's own login form; pages are opened, links followed and buttons clicked as a person would.

Set LEDGERLINK_CONSOLE_SCREENSHOTS to a folder to save a PNG of each page there
(scripts/console_screenshots.py does it for docs/console/).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerlink.store import Store
from tests.fixtures.demo import PAYERS, DemoServer
from tests.test_financing_flow import ONE_EACH, TODAY, copies

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.airflow, pytest.mark.browser,
              pytest.mark.timeout(1500)]  # the first test waits for the shared demo to start

CHROMIUM = Path("/usr/bin/chromium")
APPROVAL_RUN = "console_browser_approval"
PAGES = {"feeds": "/ledgerlink/", "quarantine": "/ledgerlink/quarantine", "financing": "/ledgerlink/financing",
         "cashapp": "/ledgerlink/cashapp", "audit": "/ledgerlink/audit", "settings": "/ledgerlink/settings"}
# What each demo user may open (README "Finance-ops console"); every other page answers 403.
ALLOWED = {
    "finance_viewer": {"feeds"},
    "finance_clerk": {"feeds", "quarantine", "financing", "cashapp", "audit"},
    "finance_ops": {"feeds", "quarantine", "financing", "cashapp", "audit"},
    "finance_approver": set(PAGES),
}
ROLES = {"finance_viewer": "viewer", "finance_clerk": "user", "finance_ops": "op", "finance_approver": "admin"}


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (requirements.txt)"
    return None


MISSING = _missing()
if MISSING and not os.environ.get("LEDGERLINK_REQUIRE_BROWSER"):
    pytest.skip(MISSING, allow_module_level=True)  # before the shared demo is started for nothing


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (set up before the demo: every test asks for it first). Module-scoped: Playwright
    keeps an event loop running in this thread until it stops, which asyncio.run() in later tests refuses."""
    if MISSING:
        pytest.fail(f"{MISSING}, and LEDGERLINK_REQUIRE_BROWSER is set")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def demo(demo_server: DemoServer) -> Iterator[DemoServer]:
    """The shared demo, with a financing_push run triggered now: it reaches its approval step while the
    first tests run."""
    demo_server.airflow("dags", "unpause", "financing_push")
    demo_server.airflow("dags", "trigger", "financing_push", "--run-id", APPROVAL_RUN,
                        "--conf", json.dumps({"today": TODAY.isoformat()}))
    yield demo_server


@pytest.fixture(scope="module")
def store(demo: DemoServer) -> Iterator[Store]:
    """The demo's own store, read to know what the pages should (and should not) show."""
    s = Store(f"sqlite:///{demo.home / 'ledgerlink.db'}")
    yield s
    s.close()


def sign_in(browser: Any, demo: DemoServer, user: str, path: str = "/ledgerlink/") -> Any:
    """A fresh browser context signed in as ``user`` through Airflow's login form; returns its page,
    which is back on ``path``."""
    page = browser.new_context(base_url=demo.url, viewport={"width": 1280, "height": 800}).new_page()
    page.goto(path)
    assert "/auth/login" in page.url, page.url
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(demo.password(user))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{path}", timeout=60_000)
    return page


def screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("LEDGERLINK_CONSOLE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def personal_values(store: Store) -> list[str]:
    """Names and IBANs that are in the demo's quarantine and worklist (only ops and admins may see them)."""
    values = [name for _, name, _, _, _ in PAYERS] + [iban for _, _, iban, _, _ in PAYERS]
    for q in store.list_quarantine(feed="invoices_nl_sftp", limit=10):
        values += [q["raw"]["Crediteurnaam"], q["raw"]["IBAN"]]
    return values


def test_a_signed_out_browser_is_sent_to_airflows_login_page(browser, demo) -> None:
    context = browser.new_context(base_url=demo.url)
    page = context.new_page()
    page.goto("/ledgerlink/audit")
    assert "/auth/login" in page.url and "next=" in page.url
    assert page.get_by_role("button", name="Sign in").is_visible()
    screenshot(page, "login")
    assert not [c for c in context.cookies() if c["name"] == "_token"]
    context.close()


def test_each_role_opens_its_pages_and_is_refused_the_others(browser, demo, store) -> None:
    hidden = personal_values(store)
    for user, allowed in ALLOWED.items():
        page = sign_in(browser, demo, user)
        nav = page.locator("nav").inner_text()
        assert f"signed in as {user} ({ROLES[user]})" in nav
        for name, path in PAGES.items():
            answer = page.goto(path)
            expected = 200 if name in allowed else 403
            assert answer.status == expected, (user, name, answer.status, page.inner_text("body")[:300])
            text = page.inner_text("body")
            if expected == 403:
                assert page.locator("h1").inner_text() == "403"
                continue
            if ROLES[user] in ("viewer", "user"):
                assert not [v for v in hidden if v in text], (user, name)
            if user == "finance_approver":
                screenshot(page, name)
        # The navigation offers only the pages the role may open.
        page.goto(PAGES["feeds"])
        links = set(page.locator("nav a").all_inner_texts())
        assert ("Settings" in links) == ("settings" in allowed)
        assert ("Quarantine" in links) == ("quarantine" in allowed)
        page.context.close()


def test_the_feeds_page_shows_the_demo_run(browser, demo) -> None:
    page = sign_in(browser, demo, "finance_viewer")
    row = page.locator("tr", has_text="invoices_nl_sftp")
    assert row.count() == 1
    text = row.inner_text()
    # 60 rows read, 57 loaded, 3 quarantined (with their amounts)
    assert "succeeded" in text and "\t60 (" in text and "\t57 (" in text and "\t3 (" in text, text
    page.context.close()


def test_masking_in_the_quarantine_drill_down(browser, demo, store) -> None:
    entry = store.list_quarantine(feed="invoices_nl_sftp", status="open", limit=1)[0]
    name, iban = entry["raw"]["Crediteurnaam"], entry["raw"]["IBAN"]
    clerk = sign_in(browser, demo, "finance_clerk", "/ledgerlink/quarantine")
    clerk.get_by_role("link", name=str(entry["id"]), exact=True).click()
    clerk.wait_for_url(f"**/ledgerlink/quarantine/{entry['id']}")
    text = clerk.inner_text("body")
    assert "Names and account numbers are masked." in text
    assert name not in text and iban not in text and entry["raw"]["Crediteurnummer"] in text
    assert clerk.get_by_role("button", name="Replay with the current mapping").count() == 0
    screenshot(clerk, "quarantine_entry_masked")
    clerk.context.close()

    ops = sign_in(browser, demo, "finance_ops", f"/ledgerlink/quarantine/{entry['id']}")
    text = ops.inner_text("body")
    assert name in text and iban in text and "masked" not in text
    ops.goto("/ledgerlink/cashapp")
    assert all(payer in ops.inner_text("body") for _, payer, _, _, _ in PAYERS)
    ops.context.close()


def test_an_operator_replays_one_quarantined_row_and_discards_another(browser, demo, store) -> None:
    first, second = store.list_quarantine(feed="invoices_nl_sftp", status="open", limit=2)
    page = sign_in(browser, demo, "finance_ops", "/ledgerlink/quarantine")
    assert "(3 rows)" in page.inner_text("body")
    page.get_by_role("link", name=str(first["id"]), exact=True).click()
    page.wait_for_url(f"**/quarantine/{first['id']}")
    screenshot(page, "quarantine_entry")
    page.get_by_role("button", name="Replay with the current mapping").click()
    page.wait_for_url(f"**/quarantine/{first['id']}")
    lineage = page.inner_text("body")
    assert "replayed" in lineage and "airflow:finance_ops" in lineage
    # The row is still bad under the current mapping: it is quarantined again, with a new id.
    again = store.list_quarantine(feed="invoices_nl_sftp", status="open", limit=10)
    assert first["id"] not in {q["id"] for q in again}
    assert [q["row"] for q in again if q["id"] > first["id"] and q["row"] == first["row"]]

    page.goto(f"/ledgerlink/quarantine/{second['id']}")
    page.get_by_placeholder("reason (audited)").fill("duplicate of an invoice already booked")
    page.get_by_role("button", name="Discard").click()
    page.wait_for_url(f"**/quarantine/{second['id']}")
    assert "discarded" in page.inner_text("body")
    assert store.get_quarantine(second["id"])["status"] == "discarded"
    actions = {(e["action"], e["actor"]) for e in store.audit_entries(limit=200)}
    assert {("quarantine.replayed", "airflow:finance_ops"), ("quarantine.discarded", "airflow:finance_ops")} <= actions
    page.goto("/ledgerlink/audit?actor=airflow:finance_ops")
    audit = page.inner_text("body")
    assert "quarantine.replayed" in audit and "duplicate of an invoice already booked" in audit
    page.context.close()


def _wait_for_the_batch(page: Any, timeout: float = 600) -> None:
    """Reload the financing page until the run waits at its approval step."""
    deadline = time.monotonic() + timeout
    while APPROVAL_RUN not in page.inner_text("body"):
        assert time.monotonic() < deadline, page.inner_text("body")
        time.sleep(3)
        page.reload()


def test_an_approver_approves_the_batch_waiting_at_its_approval_step(browser, demo, store, demo_platform) -> None:
    ops = sign_in(browser, demo, "finance_ops", "/ledgerlink/financing")
    _wait_for_the_batch(ops)
    row = ops.locator("tr", has_text=APPROVAL_RUN)
    assert "12710.49" in row.inner_text() and "needs an approver" in row.inner_text()
    assert row.get_by_role("button", name="Approve").count() == 0
    # Posting the form anyway (with a valid CSRF token) is refused for an operator.
    token = next(c["value"] for c in ops.context.cookies() if c["name"] == "ledgerlink_csrf")
    refused = ops.request.post("/ledgerlink/financing/approve", form={"csrf_token": token, "run_id": APPROVAL_RUN})
    assert refused.status == 403
    ops.context.close()

    approver = sign_in(browser, demo, "finance_approver", "/ledgerlink/financing")
    screenshot(approver, "financing")
    approver.locator("tr", has_text=APPROVAL_RUN).get_by_role("button", name="Approve").click()
    approver.wait_for_url("**/ledgerlink/financing")
    assert APPROVAL_RUN not in approver.inner_text("body")
    actions = {(e["action"], e["actor"]) for e in store.audit_entries(limit=1000)}
    assert ("financing.approval_given", "airflow:finance_approver") in actions

    # The run goes on: the send task records the approver and the batch reaches the platform once.
    deadline = time.monotonic() + 600
    while copies(demo_platform) != ONE_EACH:
        assert time.monotonic() < deadline, copies(demo_platform)
        time.sleep(3)
    while ("financing.approve", "airflow:finance_approver") not in {
            (e["action"], e["actor"]) for e in store.audit_entries(limit=1000)}:
        assert time.monotonic() < deadline
        time.sleep(3)
    approver.goto("/ledgerlink/audit")
    screenshot(approver, "audit")
    approver.context.close()
