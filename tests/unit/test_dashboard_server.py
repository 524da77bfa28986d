"""The dashboard's server on loopback with an in-memory Rollout client: who may read and
write (token, Host, Origin, CSRF header, method), the headers every page carries, the
buttons' patches (the CLI's own), the namespace scope, and RBAC's refusals passed on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, cast

import pytest

from rollout.dashboard.server import Dashboard, Running
from rollout.kube import NotFound, RolloutClient
from rollout.kube.errors import Forbidden

Doc = dict[str, Any]


class FakeRollouts:
    """The few calls the dashboard makes, from a dict; every patch is recorded."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], Doc] = {
            (ns, "inventory"): {
                "metadata": {"namespace": ns, "name": "inventory", "uid": ns},
                "spec": {"stableSubset": "v1", "canarySubset": "v2"},
                "status": {"phase": "Progressing", "canaryWeight": 5, "run": 1},
            }
            for ns in ("shop", "other")
        }
        self.patches: list[tuple[str, str, Doc]] = []
        self.forbid = False

    def list(self, namespace: str | None = None) -> tuple[list[Doc], str]:
        return [d for (ns, _), d in self.docs.items() if namespace in (None, ns)], "1"

    def get(self, namespace: str, name: str) -> Doc:
        if (namespace, name) not in self.docs:
            raise NotFound(f"rollouts {name}")
        return self.docs[(namespace, name)]

    def patch_spec(self, namespace: str, name: str, patch: Doc, resource_version: str = "") -> Doc:
        if self.forbid:
            raise Forbidden("rollouts.meshrollout.dev is forbidden: cannot patch")
        self.patches.append((namespace, name, patch))
        return self.docs[(namespace, name)]


@pytest.fixture
def served() -> Iterator[tuple[Running, FakeRollouts]]:
    """A dashboard for namespace ``shop`` on a free loopback port."""
    fake = FakeRollouts()
    board = Dashboard(cast(RolloutClient, fake), None, "shop", token="s3cret")
    with Running(board) as running:
        yield running, fake


def call(
    running: Running,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    token: bool = True,
) -> tuple[int, dict[str, str], str]:
    url = f"http://127.0.0.1:{running.dashboard.port}{path}"
    if token:
        url += ("&" if "?" in path else "?") + "token=s3cret"
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def origin(running: Running) -> dict[str, str]:
    return {"Origin": f"http://127.0.0.1:{running.dashboard.port}", "X-Rollout-CSRF": "1"}


def test_reads_need_the_token(served: tuple[Running, FakeRollouts]) -> None:
    """No token or a wrong one: 403 and counted; the right one: the page, with a content
    security policy, no framing, no referrer and no caching."""
    running, _ = served
    assert call(running, "/", token=False)[0] == 403
    assert call(running, "/?token=nope", token=False)[0] == 403
    assert running.dashboard.refused["token"] == 2
    status, headers, body = call(running, "/")
    assert status == 200
    assert "inventory" in body
    assert "script-src 'nonce-" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    nonce = headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f"<script nonce='{nonce}'>" in body


def test_another_host_is_refused(served: tuple[Running, FakeRollouts]) -> None:
    """A page of another site that resolves its own name to 127.0.0.1 (DNS rebinding)
    sends its own Host: refused even with the token."""
    running, _ = served
    assert call(running, "/", headers={"Host": "evil.example"})[0] == 403
    assert running.dashboard.refused["host"] == 1
    localhost = {"Host": f"localhost:{running.dashboard.port}"}
    assert call(running, "/", headers=localhost)[0] == 200


def test_a_button_sends_the_clis_patch(served: tuple[Running, FakeRollouts]) -> None:
    """Token, same origin and the CSRF header: the command's patch, as the CLI writes it."""
    running, fake = served
    for action in ("abort", "pause", "resume"):
        status, _, body = call(
            running, f"/api/rollouts/shop/inventory/{action}", "POST", origin(running)
        )
        assert status == 200, body
    (_, _, abort), (_, _, pause), (_, _, resume) = fake.patches
    assert abort["command"]["name"] == "abort"
    assert len(abort["command"]["id"]) == 12
    assert pause == {"paused": True}
    assert resume["paused"] is False
    assert resume["command"]["name"] == "resume"


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-Rollout-CSRF": "1"}, "origin"),
        ({"X-Rollout-CSRF": "1", "Origin": "http://evil.example"}, "origin"),
        ({"X-Rollout-CSRF": "1", "Origin": "null"}, "origin"),
        ({}, "csrf"),
        ({"X-Rollout-CSRF": "1", "Sec-Fetch-Site": "cross-site"}, "origin"),
    ],
)
def test_cross_site_writes_are_refused(
    served: tuple[Running, FakeRollouts], headers: dict[str, str], why: str
) -> None:
    """A write without the right Origin, with a cross-site fetch mark or without the CSRF
    header is refused, counted, and writes nothing."""
    running, fake = served
    if why == "csrf" or "Sec-Fetch-Site" in headers:
        headers = {**origin(running), **headers}
        if why == "csrf":
            headers.pop("X-Rollout-CSRF")
    status, _, _ = call(running, "/api/rollouts/shop/inventory/abort", "POST", headers)
    assert status == 403
    assert running.dashboard.refused[why] == 1
    assert fake.patches == []


def test_writes_need_the_token_too(served: tuple[Running, FakeRollouts]) -> None:
    """Same origin and CSRF header but no token: refused."""
    running, fake = served
    path = "/api/rollouts/shop/inventory/abort"
    assert call(running, path, "POST", origin(running), token=False)[0] == 403
    assert fake.patches == []


def test_scope_unknown_commands_and_rbac(served: tuple[Running, FakeRollouts]) -> None:
    """Another namespace than the one shown, an unknown command or rollout: 404 and
    nothing written; a patch RBAC forbids: 403 with the API server's message."""
    running, fake = served
    headers = origin(running)
    assert call(running, "/api/rollouts/other/inventory/abort", "POST", headers)[0] == 404
    assert call(running, "/r/other/inventory")[0] == 404
    assert call(running, "/api/rollouts/shop/inventory/delete", "POST", headers)[0] == 404
    assert call(running, "/api/rollouts/shop/nothing/abort", "POST", headers)[0] == 404
    assert fake.patches == []
    fake.forbid = True
    status, _, body = call(running, "/api/rollouts/shop/inventory/abort", "POST", headers)
    assert status == 403
    assert "forbidden" in json.loads(body)["message"]


def test_the_list_is_scoped_and_the_page_live(served: tuple[Running, FakeRollouts]) -> None:
    """``-n shop`` shows shop's rollouts only; the fragment (what the page's script
    fetches every second) is the page without its shell."""
    running, _ = served
    _, _, body = call(running, "/api/rollouts")
    assert [i["metadata"]["namespace"] for i in json.loads(body)["items"]] == ["shop"]
    _, _, page = call(running, "/r/shop/inventory")
    _, _, fragment = call(running, "/r/shop/inventory", headers={"X-Fragment": "1"})
    assert page.startswith("<!doctype html>")
    assert "<script" not in fragment
    assert "weight-chart" in fragment
