"""Helpers of the web page tests: log in through the real form, read a form's CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.server.conftest import PASSWORD

__all__ = ["csrf_of", "login"]


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD, next: str = "") -> str:
    """Log ``name`` in through ``/login``; the CSRF token of the page it lands on."""
    form = client.get("/login")
    assert form.status_code == 200
    answer = client.post(
        "/login",
        data={
            "username": name,
            "password": password,
            "csrf_token": csrf_of(form.text),
            "next": next,
        },
    )
    assert answer.status_code == 200, answer.text  # followed the redirect
    return csrf_of(answer.text)
