"""The dashboard over plain HTTP against the real server: every route refuses callers without its role
(table-driven over the app's own routes), the token exchange, the login form, CSRF, and an operator's
action reaching the audit log under the token's name."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from driftgate.registry.catalogue.records import GatewayStatus, LoadedVersion
from driftgate.registry.dashboard.access import PUBLIC, ROUTE_ROLES, VIEWER, allows
from driftgate.registry.dashboard.app import build_app
from driftgate.registry.dashboard.sessions import COOKIE
from tests.dashboard.dashboard_helpers import Dashboard, start_dashboard

ROLES = ("viewer", "operator", "admin")
NAME_OF_ROLE = {"viewer": "vera", "operator": "otto", "admin": "ada", "gateway": "gw"}


def _routes(dashboard: Dashboard) -> list[tuple[str, str, str]]:
    """(route name, method, a concrete path) for every route of the app the server runs."""
    app = build_app(dashboard.server.dashboard._app.state.dashboard.readout, dashboard.tokens)  # type: ignore[union-attr]
    out = []
    for route in app.routes:
        assert route.name in ROUTE_ROLES, f"route {route.name} has no role"  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            out.append((route.name, "GET", "/static/dashboard.css"))
            continue
        assert isinstance(route, Route)
        path = route.path.replace("{name}", "fraud").replace("{action}", "pause")
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                out.append((route.name, method, path))
    return out


def test_every_route_has_a_role(dashboard: Dashboard) -> None:
    routes = _routes(dashboard)
    assert {name for name, _, _ in routes} == set(ROUTE_ROLES)


def test_no_token_no_data(dashboard: Dashboard) -> None:
    with dashboard.client() as c:
        for name, method, path in _routes(dashboard):
            r = c.request(method, path)
            if ROUTE_ROLES[name] == PUBLIC:
                assert r.status_code in (200, 403), (name, r.status_code)  # POST /login without its form: 403
                continue
            assert r.status_code in (401, 303), (name, method, r.status_code)
            if r.status_code == 303:
                assert r.headers["location"].startswith("/login?next="), r.headers["location"]
            assert "fraud" not in r.text or name == "login", (name, r.text[:300])
        # a forged cookie is no session
        c.cookies.set(COOKIE, "forged")
        assert c.get("/").status_code == 303
        assert c.get("/models/fraud/charts.json").status_code == 401


@pytest.mark.parametrize("role", [*ROLES, "gateway"])
def test_each_role_gets_what_the_table_says(dashboard: Dashboard, role: str) -> None:
    name = NAME_OF_ROLE[role]
    with httpx.Client(base_url=dashboard.url, follow_redirects=False, timeout=30) as c:
        r = c.get("/", params={"token": dashboard.tokens.token[name]})
        if role == "gateway":  # a gateway's token never opens the dashboard
            assert r.status_code == 403 and COOKIE not in r.cookies
            return
        assert r.status_code == 303 and r.headers["location"] == "/"
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/rollouts").text)
        assert csrf
        for route, method, path in _routes(dashboard):
            least = ROUTE_ROLES[route]
            if least == PUBLIC or route == "logout":
                continue
            if method == "GET":
                r = c.get(path)
                assert r.status_code == (200 if allows(role, least) else 403), (route, r.status_code)
            else:  # the first POST of an action only asks for confirmation; nothing changes
                r = c.post(path, data={"csrf": csrf.group(1), "w_1": "100"})
                expected = 200 if allows(role, least) else 403
                assert r.status_code == expected, (route, role, r.status_code, r.text[:500])
                if expected == 200:
                    assert 'id="confirm-form"' in r.text


def test_token_exchange_sets_a_strict_httponly_cookie(dashboard: Dashboard) -> None:
    with dashboard.client() as c:
        r = c.get("/models/fraud", params={"token": dashboard.tokens.token["vera"], "x": "1"})
        assert r.status_code == 303
        assert r.headers["location"] == "/models/fraud?x=1"  # the token is gone from the URL
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert dashboard.tokens.token["vera"] not in cookie
        page = c.get("/models/fraud")
        assert page.status_code == 200 and "v2" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        # a wrong token is refused and logs nobody in
        with dashboard.client() as other:
            bad = other.get("/", params={"token": "nope"})
            assert bad.status_code == 401 and COOKIE not in bad.cookies


def test_login_form(dashboard: Dashboard) -> None:
    with dashboard.client() as c:
        r = c.get("/rollouts")
        assert r.status_code == 303
        form = c.get(r.headers["location"])
        assert form.status_code == 200
        nonce = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
        assert nonce
        wrong = c.post("/login", data={"token": "nope", "login_csrf": nonce.group(1), "next": "/rollouts"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        form = c.get("/login", params={"next": "/rollouts"})
        nonce = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
        assert nonce
        ok = c.post("/login", data={"token": dashboard.tokens.token["vera"], "login_csrf": nonce.group(1),
                                    "next": "/rollouts"})
        assert ok.status_code == 303 and ok.headers["location"] == "/rollouts"
        assert c.get("/rollouts").status_code == 200
        # no open redirect through next=
        form = c.get("/login", params={"next": "//evil.example/"})
        assert 'value="/"' in form.text


def test_post_without_csrf_is_refused(dashboard: Dashboard) -> None:
    with dashboard.client("otto") as c:
        r = c.post("/models/fraud/weights", data={"w_1": "50", "w_2": "50", "confirm": "yes"})
        assert r.status_code == 403
        r = c.post("/models/fraud/weights", data={"w_1": "50", "w_2": "50", "confirm": "yes", "csrf": "x" * 40})
        assert r.status_code == 403
    events = dashboard.server.catalogue.list_events("fraud", 50)
    assert not [e for e in events if e.kind == "traffic_changed" and e.actor == "otto"]


def test_viewer_sees_no_controls_and_a_forged_post_is_refused(dashboard: Dashboard) -> None:
    with dashboard.client("vera") as c:
        page = c.get("/models/fraud").text
        assert 'id="weights-form"' not in page and 'id="actions"' not in page
        csrf = dashboard.csrf(c, "/models/fraud")
        r = c.post("/models/fraud/weights", data={"w_1": "50", "w_2": "50", "confirm": "yes", "csrf": csrf})
        assert r.status_code == 403
    assert dashboard.server.catalogue.get_model("fraud").traffic.mode == "latest"


def test_operator_action_is_confirmed_and_audited(dashboard: Dashboard) -> None:
    with dashboard.client("otto") as c:
        page = c.get("/models/fraud").text
        assert 'id="weights-form"' in page
        csrf = dashboard.csrf(c, "/models/fraud")
        # no gateway has loaded the versions: the core refuses, the page says why (409)
        r = c.post("/models/fraud/weights", data={"w_1": "60", "w_2": "40", "csrf": csrf, "confirm": "yes",
                                                  "reason": "canary"})
        assert r.status_code == 409 and "gateway" in r.text
        # the latest mode needs no gateway; confirm first
        r = c.post("/models/fraud/latest", data={"csrf": csrf, "reason": "back to latest"})
        assert r.status_code == 200 and "confirm-yes" in r.text
        r = c.post("/models/fraud/latest", data={"csrf": csrf, "reason": "back to latest", "confirm": "yes"})
        assert r.status_code == 303
    events = dashboard.server.catalogue.list_events("fraud", 50)
    mine = [e for e in events if e.kind == "traffic_changed" and e.actor == "otto"]
    assert mine and "back to latest" in mine[0].message + str(mine[0].details)
    with dashboard.client("vera") as c:
        log = c.get("/rollouts", params={"actor": "otto"}).text
        assert "otto" in log and "traffic" in log


def test_viewer_role_is_the_least_for_pages() -> None:
    assert all(ROUTE_ROLES[n] == VIEWER for n in ("overview", "model", "rollouts", "model_charts"))


def _gateway_holds_both_versions(dashboard: Dashboard) -> None:
    """What a gateway's report says when it has loaded v1 and v2 (recorded into the registry's tracker)."""
    dashboard.server.gateways.record(GatewayStatus(
        gateway_id="gw-test", address="127.0.0.1:1", host="test", pid=1, started_at="", applied_generation=0,
        versions=(LoadedVersion("fraud", 1, "READY"), LoadedVersion("fraud", 2, "READY")), stats=(),
        last_seen=0.0, reported_at="",
    ))


def test_rollout_actions_from_the_page(dashboard: Dashboard) -> None:
    rollouts = dashboard.server.controller.rollouts
    _gateway_holds_both_versions(dashboard)
    record = rollouts.start("fraud", 1, 2, actor="ada")
    try:
        with dashboard.client("otto") as c:
            page = c.get("/models/fraud").text
            assert 'id="rollout-pause"' in page and 'id="rollout-abort"' in page
            csrf = dashboard.csrf(c, "/models/fraud")
            r = c.post("/models/fraud/rollout/pause", data={"csrf": csrf})
            assert r.status_code == 200 and "Pause the rollout of fraud" in r.text
            assert not dashboard.server.rollout_store.rollout(record.id).paused  # asked, not done
            r = c.post("/models/fraud/rollout/pause", data={"csrf": csrf, "confirm": "yes", "reason": "look first"})
            assert r.status_code == 303
            assert dashboard.server.rollout_store.rollout(record.id).paused
            assert 'id="rollout-resume"' in c.get("/models/fraud").text
            r = c.post("/models/fraud/rollout/nonsense", data={"csrf": csrf, "confirm": "yes"})
            assert r.status_code == 404
            _gateway_holds_both_versions(dashboard)  # abort moves the traffic back to the champion
            r = c.post("/models/fraud/rollout/abort", data={"csrf": csrf, "confirm": "yes"})
            assert r.status_code == 303
            assert dashboard.server.rollout_store.rollout(record.id).state == "aborted"
            # nothing to act on any more: the core's Conflict is a 409 with its reason
            r = c.post("/models/fraud/rollout/resume", data={"csrf": csrf, "confirm": "yes"})
            assert r.status_code == 409 and "no rollout in progress" in r.text
            timeline = c.get("/rollouts", params={"model": "fraud"}).text
            assert f'id="rollout-{record.id}"' in timeline
            assert "rollout_paused" in timeline and "rollout_aborted" in timeline
        events = dashboard.server.catalogue.list_events("fraud", 50)
        assert [e for e in events if e.kind == "rollout_paused" and e.actor == "otto" and "look first" in e.message]
    finally:
        current = dashboard.server.rollout_store.latest_rollout("fraud")
        if current is not None and current.active:
            _gateway_holds_both_versions(dashboard)
            rollouts.abort("fraud", "ada", "test cleanup")


def test_a_taken_dashboard_port_leaves_the_registry_serving(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        for dash in start_dashboard(tmp_path / "home", port=port):
            assert dash.server.dashboard_url == ""  # logged at ERROR; the control API is up
            assert dash.server.address and dash.server.catalogue.get_model("fraud")
