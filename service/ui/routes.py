"""The routes of the operator's pages under ``/ui``: the page, the login and logout forms and the
stylesheet, behind the UI's own guard (``session.Sessions.guard``)."""
from __future__ import annotations

from pathlib import Path

from litestar import Request, Response, Router, get, post
from litestar.concurrency import sync_to_thread
from litestar.exceptions import PermissionDeniedException
from litestar.response import Redirect

from datalake.errors import MeterlakeError

from ..auth import TokenStore
from ..controllers.params import ServicesDep
from ..problems import ENGINE_STATUS
from . import html as h
from .pages import overview
from .session import COOKIE, COOKIE_PATH, LoginRequired, Sessions, access, same_origin, session_key

ASSETS = Path(__file__).parent / "assets"
LOGIN_BODY_BYTES = 16 << 10
PAGE_QUERY = ("run", "against", "start", "end")


def ui_router() -> Router:
    """The ``/ui`` router, its sessions signed with ``session_key()``; left out of the OpenAPI
    document (these are pages, not the API)."""
    sessions = Sessions(session_key())

    @get("/", sync_to_thread=True, **access("session"))
    def page(request: Request, svc: ServicesDep) -> Response:
        """The operator's page: runs, the diff of two, ingests and completeness."""
        query = {k: request.query_params.get(k) for k in PAGE_QUERY if request.query_params.get(k)}
        body = overview(svc.lake, query)
        return h.html_response(h.document("meterlake", body, user=request.scope.get("user"),
                                          signed_in=bool(svc.settings.tokens)))

    @get("/login", **access("open"), sync_to_thread=False)
    def login_form(svc: ServicesDep) -> Response:
        if not svc.settings.tokens:
            return Redirect("/ui/", status_code=303)
        return login_page()

    @post("/login", **access("open"), request_max_body_size=LOGIN_BODY_BYTES)
    async def login(request: Request, svc: ServicesDep) -> Response:
        """Exchange a token for a session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS)."""
        tokens: TokenStore = svc.settings.tokens
        if not tokens:
            return Redirect("/ui/", status_code=303)
        if not same_origin(request):
            return login_page("this form must be sent from this server's own page", 403)
        form = await request.form()
        secret = str(form.get("token") or "").strip()
        if not secret:
            return login_page("enter a token", 400)
        token = tokens.known(secret)
        if token is None and tokens.slow:
            token = await sync_to_thread(tokens.authenticate, secret)
        if token is None:
            return login_page("that token is not valid", 401)
        response = Redirect("/ui/", status_code=303)
        response.set_cookie(COOKIE, sessions.issue(token), max_age=sessions.lifetime_s, path=COOKIE_PATH,
                            secure=request.url.scheme == "https", httponly=True, samesite="strict")
        return response

    @post("/logout", **access("open"), request_max_body_size=LOGIN_BODY_BYTES)
    async def logout(request: Request, svc: ServicesDep) -> Response:
        """Drop the session cookie (the browser's copy: a cookie kept elsewhere stays valid until
        it expires, docs/ui.md)."""
        if not same_origin(request):
            return login_page("this form must be sent from this server's own page", 403)
        response = Redirect("/ui/login" if svc.settings.tokens else "/ui/", status_code=303)
        response.set_cookie(COOKIE, "", max_age=0, path=COOKIE_PATH, secure=request.url.scheme == "https",
                            httponly=True, samesite="strict")
        return response

    @get("/ui.css", **access("open"), sync_to_thread=False)
    def stylesheet() -> Response:
        return Response((ASSETS / "ui.css").read_bytes(), media_type="text/css",
                        headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"})

    return Router("/ui", route_handlers=[page, login_form, login, logout, stylesheet], guards=[sessions.guard],
                  include_in_schema=False, exception_handlers={
                      LoginRequired: lambda _, __: Redirect("/ui/login", status_code=303),
                      PermissionDeniedException: refused,
                      MeterlakeError: failed,
                  })


def login_page(message: str | None = None, status_code: int = 200) -> Response:
    note = h.error(message) if message else ""
    body = ('<section id="login"><h2>Sign in</h2><p>This server has tokens: paste one (any scope) to read '
            f'the operator\'s page.</p>{note}<form method="post" action="/ui/login" id="login-form">'
            '<label>token <input type="password" name="token" id="token" autocomplete="off" required '
            'autofocus></label> <button type="submit">Sign in</button></form></section>')
    return h.html_response(h.document("meterlake: sign in", body), status_code)


def refused(_: Request, exc: PermissionDeniedException) -> Response:
    return h.html_response(h.document("meterlake: refused", h.error(exc.detail)), 403)


def failed(_: Request, exc: MeterlakeError) -> Response:
    """An engine error no section caught (e.g. no lake): the message, with the API's status."""
    status = next((s for cls, s in ENGINE_STATUS if isinstance(exc, cls)), 500)
    return h.html_response(h.document("meterlake: error", h.error(exc.message)), status)
