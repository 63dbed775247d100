"""The console's web plumbing: page layout, escaping and masking, CSRF tokens, query-parameter
parsing with 400s, and sending browsers without a session to Airflow's login page."""

from __future__ import annotations

import datetime as dt
import html
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledgerlink.airflow.console.access import Capability, ConsoleUser
from ledgerlink.errors import LedgerlinkError
from ledgerlink.redact import mask_accounts_in_text, mask_name

CSRF_COOKIE = "ledgerlink_csrf"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 16_384

STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;"
         "margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem;"
         "vertical-align:top}th{background:#f3f3f3}.failed{color:#b00}.succeeded{color:#070}nav a{margin-right:1rem}"
         "form.inline{display:inline}input,select{font-size:.9rem}.note{color:#555;font-size:.85rem}")
NAV = [("/", "Feeds", Capability.HEALTH), ("/quarantine", "Quarantine", Capability.DETAILS),
       ("/financing", "Financing", Capability.DETAILS), ("/cashapp", "Cash application", Capability.DETAILS),
       ("/audit", "Audit log", Capability.DETAILS), ("/settings", "Settings", Capability.SETTINGS)]


class BadRequest(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def e(value: Any) -> str:
    """Escaped text with anything that looks like an IBAN masked: for values that are not personal
    data by design (rule names, messages, feed names) but might quote one."""
    return html.escape(mask_accounts_in_text(str(value if value is not None else "")))


def personal(value: Any, user: ConsoleUser, *, name: bool = False) -> str:
    """A name or account number: in full for users with personal-data access, else masked."""
    text = str(value if value is not None else "")
    if user.sees_personal_data:
        return html.escape(text)
    return html.escape(mask_name(text) if name else mask_accounts_in_text(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] | None = None) -> str:
    """A table of cells that are already HTML (escape them with :func:`e` or :func:`personal`)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(f"<tr class='{html.escape((classes or [''] * len(rows))[i])}'>"
                   + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for i, row in enumerate(rows))
    return f"<table><tr>{head}</tr>{body}</table>"


def link(href: str, params: dict[str, Any], text: str) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"<a href='{html.escape(href + ('?' + query if query else ''))}'>{html.escape(text)}</a>"


def page(title: str, body: str, user: ConsoleUser, request: Request) -> HTMLResponse:
    root = html.escape(request.scope.get("root_path", "").rstrip("/"))  # /ledgerlink inside Airflow
    nav = " ".join(f"<a href='{root}{href}'>{html.escape(label)}</a>" for href, label, cap in NAV if cap in user.can)
    response = HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} · ledgerlink</title>"
        f"<style>{STYLE}</style></head><body><nav>{nav}<span class='note'>signed in as {html.escape(user.name)} "
        f"({html.escape(user.role or '-')})</span></nav><h1>{html.escape(title)}</h1>{body}</body></html>")
    if CSRF_COOKIE not in request.cookies:
        response.set_cookie(CSRF_COOKIE, csrf_token(request), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
    return response


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one (set on the page's response)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_token", None)
    if not token:
        token = request.state.csrf_token = secrets.token_urlsafe(32)
    return str(token)


def form(action: str, request: Request, fields: str, button: str) -> str:
    """A POST form carrying the CSRF token."""
    return (f"<form class='inline' method='post' action='{html.escape(action)}'>"
            f"<input type='hidden' name='{CSRF_FIELD}' value='{html.escape(csrf_token(request))}'>"
            f"{fields}<button>{html.escape(button)}</button></form>")


async def posted(request: Request) -> dict[str, str]:
    """The form of a POST after its CSRF check (double submit: the field must equal the cookie, and
    a browser's Origin, when sent, must be this server)."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.url.netloc:
        raise HTTPException(403, f"CSRF check failed: request from {origin}, not this server")
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise BadRequest(f"form larger than {MAX_FORM_BYTES} bytes")
    data = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, data.get(CSRF_FIELD, "")):
        raise HTTPException(403, "CSRF check failed: reload the page and try again")
    return data


def day(name: str, value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: {value[:40]!r} is not a date (YYYY-MM-DD)") from None


def choice(name: str, value: str | None, allowed: Sequence[str], default: str) -> str:
    value = value or default
    if value not in allowed:
        raise BadRequest(f"{name}: {value[:40]!r} is not one of {', '.join(allowed)}")
    return value


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and "/api/" not in request.url.path


def install_handlers(app: FastAPI) -> None:
    """400 with a message for bad parameters and refused operations; browsers without a session go
    to the login page, API clients get 401."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in err.get('loc', ())[1:]) or 'request'}: {err.get('msg')}"
                             for err in exc.errors())
        return _error(request, 400, f"invalid request: {problems}")

    @app.exception_handler(LedgerlinkError)
    async def refused(request: Request, exc: LedgerlinkError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and wants_html(request):
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), 303)
        return _error(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))


def _error(request: Request, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    message = mask_accounts_in_text(message)
    if wants_html(request):
        return HTMLResponse(f"<!doctype html><html><head><title>ledgerlink: {code}</title><style>{STYLE}</style>"
                            f"</head><body><h1>{code}</h1><p>{html.escape(message)}</p>"
                            "<p><a href='javascript:history.back()'>back</a></p></body></html>", code, headers)
    return JSONResponse({"detail": message}, code, headers)
