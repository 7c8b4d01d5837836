"""The Admin pages: users (list, create through the form), devices (list, a one-time
enrolment code, revocation that refuses the device's very next push), and the audit log
with its hash chain verified on the page; only admins get in."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from syncserver.db.models import AuditCheckpoint, AuditHead, AuditLog, User, WebFlash
from syncserver.services.journal import GENESIS, _hashed_fields, _row_hash
from syncserver.services.users import verify_login
from syncserver.web.admin import AUDIT_PAGE_SIZE
from tests.server.conftest import World, op, visit
from tests.server.web_helpers import csrf_of, login


def test_office_gets_the_403_page_and_tokens_and_strangers_the_login(world: World) -> None:
    for headers in ({}, world.tech, world.admin):
        for path in ("/admin", "/admin/audit"):
            answer = world.client.get(path, headers=headers, follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?next=/admin")
    csrf = login(world.client, "olga")
    assert 'href="/admin"' not in world.client.get("/exceptions").text
    for path in ("/admin", "/admin/audit"):
        refused = world.client.get(path)
        assert refused.status_code == 403
        assert "only admin users can open the Admin pages" in refused.text
    before = world.count("users")
    posted = world.client.post(
        "/admin/users",
        data={"csrf_token": csrf, "name": "mallory", "role": "admin", "password": "x" * 12},
    )
    assert posted.status_code == 403
    assert world.count("users") == before


def test_admin_creates_a_user_who_can_then_log_in(world: World) -> None:
    csrf = login(world.client, "ada")
    page = world.client.get("/admin")
    assert page.status_code == 200
    names = re.findall(r"<tr><td>([^<]+)</td><td>(\w+)</td>", page.text)
    assert ("olga", "office") in names
    assert ("demo-tech", "technician") in names
    made = world.client.post(
        "/admin/users",
        data={"csrf_token": csrf, "name": "<i>nina</i>", "role": "office",
              "password": "a long password"},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303
    shown = world.client.get(made.headers["location"])
    assert "User created." in shown.text
    assert "&lt;i&gt;nina&lt;/i&gt;" in shown.text
    assert "<i>nina</i>" not in shown.text
    with world.database.read() as session:
        user = session.execute(select(User).where(User.name == "<i>nina</i>")).scalar_one()
        assert user.role == "office"
        assert user.password_hash.startswith("$argon2")
        assert verify_login(session, "<i>nina</i>", "a long password") is not None
        audit = session.execute(
            select(AuditLog.action, AuditLog.actor_id, AuditLog.detail).where(
                AuditLog.entity_id == "<i>nina</i>"
            )
        ).all()
    assert audit == [("user.create", "ada", '{"role":"office"}')]  # no password in it
    # Bad input: one line, nothing created, the name kept in the form.
    count = world.count("users")
    for fields, says in (
        ({"name": "olga", "role": "office"}, "there is already a user &#39;olga&#39;"),
        ({"name": "pat", "role": "boss"}, "unknown role &#39;boss&#39;"),
        ({"name": "pat", "role": "office", "password": "short"}, "at least 8 characters"),
    ):
        answer = world.client.post(
            "/admin/users", data={"csrf_token": csrf, "password": "long enough", **fields}
        )
        assert answer.status_code == 422
        errors = re.findall(r'<p class="error" role="alert">([^<]*)</p>', answer.text)
        assert len(errors) == 1
        assert says in errors[0]
    assert world.count("users") == count
    forged = world.client.post(
        "/admin/users", data={"name": "eve", "role": "admin", "password": "long enough"}
    )
    assert forged.status_code == 403
    assert world.count("users") == count


def test_enrolment_code_shown_once_and_revocation_refuses_the_next_push(world: World) -> None:
    csrf = login(world.client, "ada")
    page = world.client.get("/admin")
    devices = re.findall(
        r"<td><code>([^<]+)</code></td><td>([^<]*)</td><td>([^<]*)</td>", page.text
    )
    assert (world.tech_device, "laptop", "demo-tech") in devices
    # A code, shown once on the page the form leads to; it enrols a laptop through the API.
    made = world.client.post(
        "/admin/enroll-codes", data={"csrf_token": csrf, "technician": "bob", "minutes": "30"}
    )
    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"
    code = re.search(r'<code id="enroll-code">([^<]+)</code>', made.text)
    assert code is not None
    assert "within 30 minutes" in made.text
    assert code.group(1) not in world.client.get("/admin").text
    enrolled = world.client.post(
        "/api/v1/devices/enroll",
        json={"schema_version": 1, "document": "enroll_request", "code": code.group(1),
              "device_name": "van 9"},
    )  # fmt: skip
    assert enrolled.status_code == 200, enrolled.text
    assert "van 9" in world.client.get("/admin").text
    refused = world.client.post(
        "/admin/enroll-codes", data={"csrf_token": csrf, "technician": "olga", "minutes": "30"}
    )
    assert refused.status_code == 422
    assert "&#39;olga&#39; is not a technician" in refused.text
    # demo-tech's laptop pushes fine, then is revoked from the page: the next push is 401.
    fine = world.push(world.tech, world.tech_device, [op("rv-1", visit("rv-1"))])
    assert fine.status_code == 200
    seen = world.client.get("/admin")
    row = re.search(rf"<code>{world.tech_device}</code>.*?</tr>", seen.text, re.S)
    assert row is not None
    assert "never" not in row.group(0)  # its last push is shown
    revoked = world.client.post(
        f"/admin/devices/{world.tech_device}/revoke",
        data={"csrf_token": csrf_of(seen.text)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert "Device revoked" in world.client.get(revoked.headers["location"]).text
    after = world.push(world.tech, world.tech_device, [op("rv-2", visit("rv-2"))])
    assert after.status_code == 401
    assert world.client.get("/api/v1/sync/pull", headers=world.tech).status_code == 401
    # bob's laptop is untouched.
    assert world.client.get("/api/v1/sync/pull", headers=world.bob).status_code == 200
    # A forged revoke (no token) is refused and changes nothing.
    assert (
        world.client.post(f"/admin/devices/{world.bob_device}/revoke", data={}).status_code == 403
    )
    assert world.client.get("/api/v1/sync/pull", headers=world.bob).status_code == 200


def test_forms_redirect_so_a_reload_neither_repeats_the_action_nor_shows_the_code_again(
    world: World,
) -> None:
    csrf = login(world.client, "ada")
    codes = world.count("enroll_codes")
    made = world.client.post(
        "/admin/enroll-codes",
        data={"csrf_token": csrf, "technician": "bob", "minutes": "45"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/admin#enroll-code"  # the code is not in the URL
    # Until the page is shown, the database holds the code only sealed (and its hash).
    with world.database.read() as session:
        sealed = session.execute(text("SELECT sealed FROM web_flashes")).scalars().all()
    assert len(sealed) == 1
    shown = world.client.get(made.headers["location"])
    assert shown.headers["cache-control"] == "no-store"
    code = re.search(r'<code id="enroll-code">([^<]+)</code>', shown.text)
    assert code is not None
    assert code.group(1) not in made.headers["location"]
    assert code.group(1).replace("-", "") not in sealed[0]
    assert code.group(1) not in sealed[0]
    # The reload (the same GET) makes no second code and shows none.
    reloaded = world.client.get(made.headers["location"])
    assert reloaded.status_code == 200
    assert "Enrolment code for" not in reloaded.text
    assert code.group(1) not in reloaded.text
    assert world.count("enroll_codes") == codes + 1
    assert world.count("web_flashes") == 0
    # Another admin session never sees a code made in this one.
    other = TestClient(world.client.app)
    login(other, "ada")
    world.client.post("/admin/enroll-codes", data={"csrf_token": csrf, "technician": "bob"},
                      follow_redirects=False)  # fmt: skip
    assert "Enrolment code for" not in other.get("/admin").text
    assert "Enrolment code for bob" in world.client.get("/admin").text

    # The whole-chain check: one check for the POST, none for each reload of its answer.
    def whole_checks() -> int:
        with world.database.read() as session:
            return len(
                session.execute(
                    select(AuditCheckpoint.id).where(AuditCheckpoint.checked_from == 1)
                ).all()
            )

    before = whole_checks()
    checked = world.client.post(
        "/admin/audit/verify", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert checked.status_code == 303
    assert checked.headers["location"] == "/admin/audit?done=checked"
    for _ in range(2):
        page = world.client.get(checked.headers["location"])
        assert "The whole chain was checked" in page.text
    assert whole_checks() == before + 1


def test_a_code_not_shown_in_time_or_after_logout_is_gone(world: World) -> None:
    csrf = login(world.client, "ada")
    world.client.post("/admin/enroll-codes", data={"csrf_token": csrf, "technician": "bob"},
                      follow_redirects=False)  # fmt: skip
    with world.database.write() as session:  # the redirect was never followed in time
        session.execute(update(WebFlash).values(created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    assert "Enrolment code for" not in world.client.get("/admin").text
    assert world.count("web_flashes") == 0
    world.client.post("/admin/enroll-codes", data={"csrf_token": csrf, "technician": "bob"},
                      follow_redirects=False)  # fmt: skip
    assert world.count("web_flashes") == 1
    world.client.post("/logout", data={"csrf_token": csrf})
    assert world.count("web_flashes") == 0  # went with the session


def _rewrite_audit_row(world: World, seq: int) -> None:
    """What someone with the database could do: drop the append-only trigger, edit a row."""
    drop = (
        "DROP TRIGGER IF EXISTS audit_log_no_update"
        if world.database.is_sqlite
        else "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"
    )
    with world.database.write() as session:
        session.execute(text(drop))
        session.execute(
            text("UPDATE audit_log SET actor_id = 'nobody' WHERE seq = :seq"), {"seq": seq}
        )


def _push_visit(world: World, name: str) -> None:
    pushed = world.push(world.tech, world.tech_device, [op(f"op-{name}", visit(name))])
    assert pushed.json()["results"][0]["status"] == "applied"


def test_the_audit_log_pages_newest_first_and_its_chain_is_verified(world: World) -> None:
    login(world.client, "ada")
    total = world.count("audit_log")
    first = world.client.get("/admin/audit")
    assert first.status_code == 200
    assert f"Chain verified, {total} entries." in first.text
    assert "Every entry's hash was checked" in first.text  # no checkpoint yet: all of it
    seqs = [int(s) for s in re.findall(r"<tr>\s*<td>(\d+)</td>", first.text)]
    assert seqs == list(range(total, max(total - AUDIT_PAGE_SIZE, 0), -1))
    older = re.search(r'<a rel="next" href="([^"]+)">', first.text)
    assert older is not None
    second = world.client.get(older.group(1))
    deeper = [int(s) for s in re.findall(r"<tr>\s*<td>(\d+)</td>", second.text)]
    assert deeper[0] == seqs[-1] - 1
    assert world.client.get("/admin/audit?before=x").status_code == 400


def test_a_view_checks_only_the_entries_since_the_last_checkpoint(world: World) -> None:
    """A row changed after the checkpoint is found on the next ordinary view."""
    login(world.client, "ada")
    world.client.get("/admin/audit")  # the checkpoint: the whole log as it is now
    checkpoint = world.count("audit_log")
    again = world.client.get("/admin/audit")
    assert f"Chain verified, {checkpoint} entries." in again.text
    assert f"Entries 1–{checkpoint} were found intact by an earlier check; the 0 since" in (
        again.text
    )
    _push_visit(world, "v-after-1")
    _push_visit(world, "v-after-2")
    total = world.count("audit_log")
    assert total > checkpoint + 1
    _rewrite_audit_row(world, checkpoint + 2)
    broken = world.client.get("/admin/audit")
    assert broken.status_code == 200
    assert "Chain verified" not in broken.text
    assert f"Hash chain broken: audit row {checkpoint + 2} does not match its hash" in broken.text
    # A broken check is not a starting point: the next view finds the same row again.
    assert f"audit row {checkpoint + 2} does not match" in world.client.get("/admin/audit").text


def test_a_row_changed_before_the_checkpoint_is_found_by_the_whole_chain_check(
    world: World,
) -> None:
    csrf = login(world.client, "ada")
    world.client.get("/admin/audit")
    _rewrite_audit_row(world, 7)
    total = world.count("audit_log")
    # The ordinary view checks from its checkpoint on, and the row is before it.
    assert f"Chain verified, {total} entries." in world.client.get("/admin/audit").text
    forged = world.client.post("/admin/audit/verify", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    whole = world.client.post("/admin/audit/verify", data={"csrf_token": csrf})
    assert whole.status_code == 200  # the audit page it redirected to
    assert "Chain verified" not in whole.text
    assert "Hash chain broken: the whole-chain check of" in whole.text
    assert "by ada found audit row 7 does not match its hash" in whole.text
    # Every later view says so until a whole-chain check finds the chain intact again.
    later = world.client.get("/admin/audit")
    assert "Chain verified" not in later.text
    assert "by ada found audit row 7 does not match its hash" in later.text


def test_the_whole_chain_check_of_an_intact_log_is_shown_with_who_and_when(world: World) -> None:
    csrf = login(world.client, "ada")
    never = world.client.get("/admin/audit")
    assert "last checked" in never.text  # the first view read the whole chain
    whole = world.client.post("/admin/audit/verify", data={"csrf_token": csrf})
    total = world.count("audit_log")
    assert f"Chain verified, {total} entries." in whole.text
    assert "The whole chain was checked: its result is below." in whole.text
    assert re.search(
        rf"last checked [0-9-]+ [0-9:]+ UTC by ada: intact, {total} entries", whole.text
    )
    office = world.client.post("/logout", data={"csrf_token": csrf})
    assert office.status_code in (200, 303)
    office_csrf = login(world.client, "olga")
    refused = world.client.post("/admin/audit/verify", data={"csrf_token": office_csrf})
    assert refused.status_code == 403


def test_viewing_the_audit_log_waits_for_no_writer_when_nothing_is_new(world: World) -> None:
    """An audit view that finds no new entry stores nothing, so it takes no write lock: on
    SQLite it answers while a long write (a CIS import, a push) holds the database."""
    if not world.database.is_sqlite:
        pytest.skip("PostgreSQL readers never wait for a writer")
    login(world.client, "ada")
    world.client.get("/admin/audit")  # the checkpoint: the whole log as it is now
    total = world.count("audit_log")
    writer = sqlite3.connect(world.database.url.removeprefix("sqlite:///"), timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process's write transaction
        began = time.perf_counter()
        again = world.client.get("/admin/audit")
        waited = time.perf_counter() - began
    finally:
        writer.rollback()
        writer.close()
    assert again.status_code == 200
    assert f"Chain verified, {total} entries." in again.text
    assert waited < 5, f"the view waited {waited:.1f} s for the writer"


def _rewrite_history(world: World, seq: int) -> None:
    """What a careful forger does: change an entry and re-hash every entry after it and the
    head, so that the chain holds together from the genesis."""
    _rewrite_audit_row(world, seq)
    with world.database.write() as session:
        rows = session.execute(select(AuditLog).order_by(AuditLog.seq)).scalars().all()
        prev = GENESIS
        for row in rows:
            row.prev_hash, row.row_hash = prev, _row_hash(prev, _hashed_fields(row))
            prev = row.row_hash
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev))


def test_a_rewritten_history_found_at_the_checkpoint_is_not_cleared_by_the_whole_check(
    world: World,
) -> None:
    """Re-hashed from the genesis, the chain holds together; only the checkpoint's entry,
    replaced, shows it. The whole-chain check must say so too, not store a new start."""
    csrf = login(world.client, "ada")
    world.client.get("/admin/audit")  # the checkpoint
    checkpoint = world.count("audit_log")
    _rewrite_history(world, 7)
    replaced = f"audit row {checkpoint} is not the one verified before"
    assert replaced in world.client.get("/admin/audit").text
    whole = world.client.post("/admin/audit/verify", data={"csrf_token": csrf})
    assert whole.status_code == 200
    assert "Chain verified" not in whole.text
    assert replaced in whole.text
    later = world.client.get("/admin/audit").text
    assert "Chain verified" not in later
    assert replaced in later


def test_a_break_found_after_the_checkpoint_is_not_hidden_by_a_view_that_ran_alongside(
    world: World,
) -> None:
    """Two workers: one view read the entries before a row was changed and stores its
    intact checkpoint after another view found the change. The next view still finds it."""
    login(world.client, "ada")
    world.client.get("/admin/audit")
    checkpoint = world.count("audit_log")
    _push_visit(world, "v-after-1")
    _push_visit(world, "v-after-2")
    total = world.count("audit_log")
    _rewrite_audit_row(world, checkpoint + 2)
    found = f"audit row {checkpoint + 2} does not match its hash"
    assert found in world.client.get("/admin/audit").text
    with world.database.write() as session:  # the slower view's checkpoint, stored last
        head = session.execute(select(AuditLog.row_hash).where(AuditLog.seq == total))
        session.add(
            AuditCheckpoint(
                seq=total,
                row_hash=head.scalar_one(),
                checked_from=checkpoint + 1,
                verified_at=datetime.now(UTC),
                verified_by="ada",
                seconds=0.1,
                broken=None,
            )
        )
    again = world.client.get("/admin/audit").text
    assert "Chain verified" not in again
    assert found in again
