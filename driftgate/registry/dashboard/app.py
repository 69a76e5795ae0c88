"""The dashboard's web app (Starlette + Jinja2 + htmx): a thin adapter over the registry's core.

Every route is wrapped by ``_guard`` with its least role from ``access.ROUTE_ROLES`` (the app refuses to
build when a route has none). The guard:

- exchanges ``?token=`` on any URL for a session cookie and redirects to the same URL without it;
- finds the session from the cookie and authenticates its token again (a revoked token stops at once);
- refuses: no session -> a page redirects to the login form, anything else answers 401; a role below the
  route's -> 403; a POST without the session's CSRF token -> 403.

Reads and actions call the core in a worker thread (``asyncio.to_thread``), as the gRPC API does; errors of
the core's exception tree map to HTTP status codes in one table (``HTTP_STATUS``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from driftgate.errors import Conflict, DriftgateError, InvalidRequest, NotFound, Unavailable
from driftgate.registry.dashboard.access import PUBLIC, ROUTE_ROLES, Authenticator, Principal, allows
from driftgate.registry.dashboard.readout import Readout
from driftgate.registry.dashboard.sessions import COOKIE, Session, SessionStore

__all__ = ["HTTP_STATUS", "build_app"]

log = logging.getLogger("driftgate.dashboard")

HERE = Path(__file__).resolve().parent
LOGIN_CSRF_COOKIE = "driftgate_login"
ROLLOUT_ACTIONS = ("pause", "resume", "abort", "promote", "rollback")

# the core's exception tree -> HTTP status, walked along the MRO (as driftgate.grpc_edge does for gRPC)
HTTP_STATUS: dict[type[DriftgateError], int] = {
    InvalidRequest: 400,
    NotFound: 404,
    Conflict: 409,
    Unavailable: 503,
    DriftgateError: 500,
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # a ?token= URL must never leak through a Referer
    "Cache-Control": "no-store",
}

Endpoint = Callable[[Request], Awaitable[Response]]


def http_status(exc: DriftgateError) -> int:
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 500


def _fmt_pct(x: float | None, digits: int = 1) -> str:
    return "\u2013" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%"


def _fmt_num(x: float | None, digits: int = 3) -> str:
    return "\u2013" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _psi_class(cell: dict[str, Any]) -> str:
    return {"major": "psi-major", "moderate": "psi-moderate", "ok": "psi-ok"}.get(cell["status"], "psi-none")


def _local_path(target: str) -> str:
    """``target`` when it is a path on this site, else "/" (no open redirect through ?next=)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


class Dashboard:
    """The app's handlers; state injected by the composition root."""

    def __init__(
        self,
        readout: Readout,
        authenticator: Authenticator,
        sessions: SessionStore,
        *,
        secure_cookies: bool,
        refresh_s: float = 2.0,
    ) -> None:
        self.readout = readout
        self.authenticator = authenticator
        self.sessions = sessions
        self.secure = secure_cookies
        self.refresh_s = refresh_s
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.filters["pct"] = _fmt_pct
        env.filters["num"] = _fmt_num
        env.filters["psi_class"] = _psi_class

    # ---- auth ----

    async def _authenticate(self, token: str) -> Principal | None:
        if not token:
            return None
        try:
            return await self.authenticator.authenticate(token)
        except DriftgateError:
            return None

    def _set_session_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE, session.id, max_age=int(self.sessions.ttl_s), path="/", httponly=True, samesite="strict",
            secure=self.secure,
        )

    async def _exchange(self, request: Request) -> Response:
        """A token in the URL: log in with it and send the browser to the same URL without it."""
        token = request.query_params["token"]
        principal = await self._authenticate(token)
        if principal is None:
            return await self._login_page(request, "that token is not valid", status=401)
        if not allows(principal.role, "viewer"):
            return await self._login_page(request, f"a {principal.role} token cannot open the dashboard", status=403)
        session = self.sessions.create(token)
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        target = request.url.path + (("?" + urlencode(query)) if query else "")
        response = RedirectResponse(target, status_code=303)
        self._set_session_cookie(response, session)
        return response

    async def who(self, request: Request) -> tuple[Session | None, Principal | None]:
        session = self.sessions.get(request.cookies.get(COOKIE, ""))
        if session is None:
            return None, None
        principal = await self._authenticate(session.token)
        if principal is None:  # the token was revoked or expired
            self.sessions.drop(session.id)
            return None, None
        return session, principal

    def guard(self, endpoint: Endpoint, least: str) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if "token" in request.query_params:
                return await self._exchange(request)
            if least == PUBLIC:
                return await endpoint(request)
            session, principal = await self.who(request)
            if session is None or principal is None:
                if request.method == "GET" and "hx-request" not in request.headers and least != PUBLIC:
                    if request.url.path.endswith(".json"):
                        return JSONResponse({"error": "log in first"}, status_code=401)
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
                return Response("log in first", status_code=401, media_type="text/plain")
            if not allows(principal.role, least):
                return self.page(request, "error.html", {"status": 403, "message":
                                 f"{principal.name} ({principal.role}) may not do this: it needs {least}"},
                                 status=403, session=session, principal=principal)
            if request.method == "POST":
                form = await request.form()
                sent = str(form.get("csrf", "")) or request.headers.get("x-csrf-token", "")
                if not session.csrf_ok(sent):
                    return self.page(request, "error.html", {"status": 403, "message":
                                     "the form's CSRF token does not match this session; reload the page"},
                                     status=403, session=session, principal=principal)
            request.state.session = session
            request.state.principal = principal
            return await endpoint(request)

        return guarded

    def page(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        session: Session | None = None,
        principal: Principal | None = None,
    ) -> Response:
        session = session or getattr(request.state, "session", None)
        principal = principal or getattr(request.state, "principal", None)
        ctx = {
            "principal": principal,
            "csrf": session.csrf if session is not None else "",
            "can_act": principal is not None and allows(principal.role, ROUTE_ROLES["set_weights"]),
            "refresh_s": self.refresh_s,
            **context,
        }
        response = self.templates.TemplateResponse(request, template, ctx, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def _login_page(self, request: Request, error: str = "", status: int = 200) -> Response:
        nonce = secrets.token_urlsafe(24)
        target = _local_path(request.query_params.get("next", "/"))
        response = self.page(request, "login.html", {"error": error, "next": target, "login_csrf": nonce},
                             status=status)
        response.set_cookie(LOGIN_CSRF_COOKIE, nonce, max_age=3600, path="/login", httponly=True,
                            samesite="strict", secure=self.secure)
        return response

    async def _core(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _error(self, request: Request, exc: DriftgateError) -> Response:
        status = http_status(exc)
        if status >= 500:
            log.exception("dashboard request failed", exc_info=exc)
        return self.page(request, "error.html", {"status": status, "message": str(exc)}, status=status)

    # ---- login ----

    async def login(self, request: Request) -> Response:
        return await self._login_page(request)

    async def login_submit(self, request: Request) -> Response:
        form = await request.form()
        nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        sent = str(form.get("login_csrf", ""))
        if not nonce or not secrets.compare_digest(nonce.encode(), sent.encode()):
            return await self._login_page(request, "the login form expired; try again", status=403)
        token = str(form.get("token", "")).strip()
        principal = await self._authenticate(token)
        if principal is None:
            return await self._login_page(request, "that token is not valid", status=401)
        if not allows(principal.role, "viewer"):
            return await self._login_page(request, f"a {principal.role} token cannot open the dashboard", status=403)
        session = self.sessions.create(token)
        response = RedirectResponse(_local_path(str(form.get("next", "/"))), status_code=303)
        self._set_session_cookie(response, session)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    async def logout(self, request: Request) -> Response:
        self.sessions.drop(request.state.session.id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # ---- pages ----

    async def overview(self, request: Request) -> Response:
        data = await self._core(self.readout.overview)
        return self.page(request, "overview.html", {"data": data, "nav": "overview"})

    async def overview_live(self, request: Request) -> Response:
        data = await self._core(self.readout.overview)
        return self.page(request, "_overview.html", {"data": data})

    async def model(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            data = await self._core(self.readout.model, name)
        except DriftgateError as exc:
            return self._error(request, exc)
        return self.page(request, "model.html", {"m": data, "nav": "model", "message": request.query_params.get(
            "done", "")})

    async def model_live(self, request: Request) -> Response:
        try:
            data = await self._core(self.readout.model, request.path_params["name"])
        except DriftgateError as exc:
            return self._error(request, exc)
        return self.page(request, "_model.html", {"m": data})

    async def model_charts(self, request: Request) -> Response:
        try:
            data = await self._core(self.readout.charts, request.path_params["name"])
        except DriftgateError as exc:
            return JSONResponse({"error": str(exc)}, status_code=http_status(exc), headers=SECURITY_HEADERS)
        return Response(json.dumps(data, allow_nan=False, default=str), media_type="application/json",
                        headers=SECURITY_HEADERS)

    async def rollouts(self, request: Request) -> Response:
        q = request.query_params
        model, kind, actor, text = q.get("model", ""), q.get("kind", ""), q.get("actor", ""), q.get("q", "")

        def read() -> dict[str, Any]:
            everything = self.readout.events(model)
            return {
                "rollouts": self.readout.rollouts(model),
                "events": self.readout.events(model, kind, actor, text),
                "kinds": sorted({e.kind for e in everything}),
                "actors": sorted({e.actor for e in everything}),
                "models": self.readout.model_names(),
            }

        data = await self._core(read)
        filters = {"model": model, "kind": kind, "actor": actor, "q": text}
        return self.page(request, "rollouts.html", {"data": data, "filters": filters, "nav": "rollouts"})

    # ---- actions (operators), each confirmed ----

    def _confirm(self, request: Request, what: str, fields: list[tuple[str, str]], back: str) -> Response:
        return self.page(request, "confirm.html", {"what": what, "fields": fields, "action": request.url.path,
                                                    "back": back})

    async def set_weights(self, request: Request) -> Response:
        name = request.path_params["name"]
        form = await request.form()
        principal: Principal = request.state.principal
        weights: dict[int, int] = {}
        try:
            for key, value in form.multi_items():
                if key.startswith("w_") and str(value).strip():
                    weight = int(str(value))
                    if weight > 0:
                        weights[int(key[2:])] = weight
        except ValueError:
            return self._error(request, InvalidRequest("weights must be whole numbers"))
        reason = str(form.get("reason", "")).strip()
        back = f"/models/{name}"
        if form.get("confirm") != "yes":
            split = ", ".join(f"v{v}={w}" for v, w in sorted(weights.items())) or "(nothing)"
            fields = [(f"w_{v}", str(w)) for v, w in sorted(weights.items())] + [("reason", reason)]
            return self._confirm(request, f"Set the traffic of {name} to {split}", fields, back)
        try:
            await self._core(self.readout.parts.catalogue.set_traffic, name, weights, actor=principal.name,
                             reason=reason or "set in the dashboard")
        except DriftgateError as exc:
            return self._error(request, exc)
        return RedirectResponse(f"{back}?" + urlencode({"done": "traffic set"}), status_code=303)

    async def set_latest(self, request: Request) -> Response:
        name = request.path_params["name"]
        form = await request.form()
        principal: Principal = request.state.principal
        reason = str(form.get("reason", "")).strip()
        back = f"/models/{name}"
        if form.get("confirm") != "yes":
            return self._confirm(request, f"Route {name} to its newest version (latest)", [("reason", reason)], back)
        try:
            await self._core(self.readout.parts.catalogue.set_traffic, name, {}, latest=True, actor=principal.name,
                             reason=reason or "set in the dashboard")
        except DriftgateError as exc:
            return self._error(request, exc)
        return RedirectResponse(f"{back}?" + urlencode({"done": "traffic follows the newest version"}),
                                status_code=303)

    async def rollout_action(self, request: Request) -> Response:
        name = request.path_params["name"]
        action = request.path_params["action"]
        if action not in ROLLOUT_ACTIONS:
            return self._error(request, NotFound(f"no rollout action {action!r}"))
        form = await request.form()
        principal: Principal = request.state.principal
        reason = str(form.get("reason", "")).strip()
        back = f"/models/{name}"
        if form.get("confirm") != "yes":
            return self._confirm(request, f"{action.capitalize()} the rollout of {name}", [("reason", reason)], back)
        fn = getattr(self.readout.parts.rollout_manager, action)
        try:
            await self._core(fn, name, principal.name, reason or "from the dashboard")
        except DriftgateError as exc:
            return self._error(request, exc)
        return RedirectResponse(f"{back}?" + urlencode({"done": f"rollout {action}"}), status_code=303)

    # ---- the app ----

    def routes(self) -> list[BaseRoute]:
        plain: list[tuple[str, Endpoint, str, list[str]]] = [
            ("/login", self.login, "login", ["GET"]),
            ("/login", self.login_submit, "login_submit", ["POST"]),
            ("/logout", self.logout, "logout", ["POST"]),
            ("/", self.overview, "overview", ["GET"]),
            ("/live/overview", self.overview_live, "overview_live", ["GET"]),
            ("/models/{name}", self.model, "model", ["GET"]),
            ("/models/{name}/live", self.model_live, "model_live", ["GET"]),
            ("/models/{name}/charts.json", self.model_charts, "model_charts", ["GET"]),
            ("/rollouts", self.rollouts, "rollouts", ["GET"]),
            ("/models/{name}/weights", self.set_weights, "set_weights", ["POST"]),
            ("/models/{name}/latest", self.set_latest, "set_latest", ["POST"]),
            ("/models/{name}/rollout/{action}", self.rollout_action, "rollout_action", ["POST"]),
        ]
        routes: list[BaseRoute] = [
            Route(path, self.guard(fn, ROUTE_ROLES[name]), name=name, methods=methods)
            for path, fn, name, methods in plain
        ]
        routes.append(Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"))
        return routes


def build_app(
    readout: Readout,
    authenticator: Authenticator,
    *,
    secure_cookies: bool = False,
    sessions: SessionStore | None = None,
    refresh_s: float = 2.0,
) -> Starlette:
    """The dashboard app. Every route must have a row in access.ROUTE_ROLES (KeyError otherwise)."""
    dash = Dashboard(readout, authenticator, sessions or SessionStore(), secure_cookies=secure_cookies,
                     refresh_s=refresh_s)
    routes = dash.routes()
    missing = [getattr(r, "name", "?") for r in routes if getattr(r, "name", None) not in ROUTE_ROLES]
    if missing:
        raise KeyError(f"dashboard routes without a role in ROUTE_ROLES: {missing}")
    app = Starlette(routes=routes)
    app.state.dashboard = dash
    return app
