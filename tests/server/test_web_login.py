"""Logging in and out of the office pages, sessions, cookie flags, CSRF and role scoping."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from syncserver.core.config import Settings
from syncserver.db.models import AuditLog, WebSession
from syncserver.main import create_app
from syncserver.services.journal import verify_audit_chain
from syncserver.web.auth import AdminPage
from tests.server.conftest import PASSWORD, World, add_user
from tests.server.web_helpers import csrf_of, login


def test_logged_out_is_sent_to_login_with_next(world: World) -> None:
    answer = world.client.get("/exceptions?check=polarity", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/exceptions%3Fcheck%3Dpolarity"
    assert world.client.get("/", follow_redirects=False).headers["location"] == "/exceptions"


def test_login_lands_on_next_and_logout_ends_the_session(world: World) -> None:
    client = world.client
    form = client.get("/login?next=/exceptions%3Freview_status%3Dnew")
    answer = client.post(
        "/login",
        data={
            "username": "olga",
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "/exceptions?review_status=new",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/exceptions?review_status=new"
    cookie = answer.cookies["fk_session"]
    page = client.get("/exceptions")
    assert page.status_code == 200
    assert "<h1>Exceptions</h1>" in page.text
    assert "olga (office)" in page.text
    with world.database.read() as session:  # only the cookie's SHA-256 is kept
        stored = session.execute(select(WebSession.token_hash)).scalars().all()
    assert stored
    assert cookie not in stored
    assert all(len(h) == 64 for h in stored)
    out = client.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    # The old cookie, replayed, is dead at once.
    client.cookies.set("fk_session", cookie)
    assert client.get("/exceptions", follow_redirects=False).status_code == 303


def test_next_is_only_ever_a_local_path(world: World) -> None:
    client = world.client
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client.cookies.clear()
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={
                "username": "olga",
                "password": PASSWORD,
                "csrf_token": csrf_of(form.text),
                "next": target,
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/exceptions"


def test_wrong_password_one_clear_message_nothing_leaked(world: World) -> None:
    client = world.client
    answers = []
    for name, password in (("olga", "wrong"), ("nobody-here", "wrong"), ("demo-tech", PASSWORD)):
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={"username": name, "password": password, "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert answer.status_code == 401
        assert "Wrong user name or password." in answer.text
        assert "fk_session" not in answer.cookies
        answers.append(answer.text.replace(csrf_of(answer.text), ""))
    # A known name, an unknown one and a technician read exactly the same page.
    assert answers[0] == answers[1] == answers[2]
    with world.database.read() as session:
        actions = session.execute(select(AuditLog.action, AuditLog.entity_id)).all()
        verify_audit_chain(session)
    assert ("login.fail", "olga") in actions
    assert ("login.fail", "demo-tech") in actions


def test_repeated_failures_are_throttled(world: World) -> None:
    client = world.client
    codes = []
    for _ in range(6):
        form = client.get("/login")
        codes.append(
            client.post(
                "/login",
                data={"username": "olga", "password": "nope", "csrf_token": csrf_of(form.text)},
            ).status_code
        )
    assert codes == [401] * 5 + [429]
    form = client.get("/login")
    blocked = client.post(
        "/login",
        data={"username": "olga", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    assert blocked.status_code == 429
    assert "Too many failed logins" in blocked.text


def test_cookie_flags(tmp_path_factory: object, world: World) -> None:
    form = world.client.get("/login")
    answer = world.client.post(
        "/login",
        data={"username": "olga", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    header = answer.headers["set-cookie"].lower()
    assert "fk_session=" in header
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "secure" not in header.split("fk_session=")[1].split(",")[0]


def test_cookie_is_secure_when_configured(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    app = create_app(Settings(db=str(tmp_path / "s.db"), cookie_secure=True))
    with TestClient(app, base_url="https://testserver") as client:
        add_user(app.state.database, "olga", "office")
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={"username": "olga", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        cookie = next(c for c in answer.headers.get_list("set-cookie") if "fk_session=" in c)
        assert "secure" in cookie.lower()
        assert "httponly" in cookie.lower()


def test_a_post_without_the_csrf_token_is_refused(world: World) -> None:
    client = world.client
    login(client, "olga")
    assert client.post("/logout", data={}).status_code == 403
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/exceptions").status_code == 200  # still signed in
    # The login form itself needs its token too (login CSRF).
    client.cookies.clear()
    bare = client.post("/login", data={"username": "olga", "password": PASSWORD})
    assert bare.status_code == 403
    assert "fk_session" not in bare.cookies


def test_tokens_and_technicians_reach_no_page(world: World) -> None:
    for headers in (world.tech, world.office, world.admin):
        for path in ("/exceptions", "/"):
            answer = world.client.get(path, headers=headers, follow_redirects=False)
            assert answer.status_code == 303
            if path == "/":
                answer = world.client.get("/exceptions", headers=headers, follow_redirects=False)
            assert answer.headers["location"].startswith("/login")


def test_office_is_refused_admin_pages(world: World) -> None:
    @world.client.app.get("/admin-probe")  # type: ignore[attr-defined]
    def probe(user: AdminPage) -> dict[str, str]:
        return {"admin": user.principal.name}

    login(world.client, "olga")
    refused = world.client.get("/admin-probe")
    assert refused.status_code == 403
    assert "only admin users" in refused.text
    world.client.cookies.clear()
    login(world.client, "ada")
    assert world.client.get("/admin-probe").json() == {"admin": "ada"}


def test_an_expired_session_is_sent_back_to_login(world: World) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    login(world.client, "olga")
    assert world.client.get("/exceptions", follow_redirects=False).status_code == 200
    with world.database.write() as session:
        session.execute(
            update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    answer = world.client.get("/exceptions", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/exceptions"
    login(world.client, "olga")  # logging in again clears the expired row
    with world.database.read() as session:
        assert len(session.execute(select(WebSession.id)).all()) == 1


def test_pages_forbid_framing_scripts_and_caching(world: World) -> None:
    login(world.client, "olga")
    answer = world.client.get("/exceptions")
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert "<script" not in answer.text


def test_every_page_post_refuses_a_form_without_the_token(world: World) -> None:
    """Walks the app's routes, so a page added later is held to the same rule."""
    from fastapi.routing import APIRoute

    from syncserver.api.main import api_router

    login(world.client, "ada")

    def walk(routes: list[Any]) -> list[APIRoute]:
        found: list[APIRoute] = []
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            # An included router (FastAPI >= 0.120); /api/v1 takes bearer tokens, no forms.
            elif getattr(route, "original_router", api_router) is not api_router:
                found.extend(walk(route.original_router.routes))
        return found

    posts = [
        route.path
        for route in walk(world.client.app.routes)  # type: ignore[attr-defined]
        if "POST" in route.methods and not route.path.startswith("/api/") and route.path != "/login"
    ]
    assert "/logout" in posts
    assert "/visits/{visit_id}/review" in posts
    for path in posts:
        url = path.replace("{", "").replace("}", "")  # any value: refused before the lookup
        for form in ({}, {"csrf_token": "forged", "status": "closed", "comment": "x"}):
            answer = world.client.post(url, data=form, follow_redirects=False)
            assert answer.status_code == 403, (path, form, answer.status_code)
    assert world.client.get("/exceptions").status_code == 200  # still signed in
