"""HTML of the operator's pages: escaping, the page frame, tables, and the HTML response with
its security headers (plain strings: no template engine, no script)."""
from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping
from decimal import Decimal

from litestar import Response

STYLESHEET = "/ui/ui.css"
# No script runs on these pages, styles come from the stylesheet only (inline SVG uses
# presentation attributes), and forms post to this server only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make form posts send "Origin: null"
    "Cache-Control": "no-store",
}


def esc(value: object) -> str:
    """``value`` as HTML text (attribute-safe); None is empty."""
    return "" if value is None else html.escape(str(value), quote=True)


def show(value: object) -> str:
    """A figure as the page shows it: integers with thousands separators, decimals with the
    scale the engine gave them, dates ISO, missing values a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return f"{value:,}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def attrs(values: Mapping[str, object] | None) -> str:
    """`` name="value"`` pairs; None values are left out."""
    if not values:
        return ""
    return "".join(f' {name}="{esc(v)}"' for name, v in values.items() if v is not None)


def cell(value: object, cls: str | None = None, *, numeric: bool = False, raw: str | None = None) -> str:
    """A table cell showing ``value`` (``raw``: ready HTML instead), with its class; numeric
    cells are right-aligned and keep the unformatted value in ``data-value``."""
    classes = " ".join(c for c in (cls, "num" if numeric else None) if c)
    data = {"class": classes or None, "data-value": value if numeric and value is not None else None}
    return f"<td{attrs(data)}>{raw if raw is not None else esc(show(value))}</td>"


def table(table_id: str, headings: Iterable[str], rows: Iterable[str], *, caption: str | None = None,
          empty: str = "nothing yet") -> str:
    """A table of ready rows (``<tr>`` strings), or ``empty`` as a paragraph when there are none."""
    rows = list(rows)
    if not rows:
        return f'<p class="empty" id="{esc(table_id)}">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headings)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="table-frame"><table id="{esc(table_id)}">{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def row(cells: Iterable[str], data: Mapping[str, object] | None = None) -> str:
    return f"<tr{attrs(data)}>{''.join(cells)}</tr>"


def section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>{body}</section>'


def error(message: str) -> str:
    """A section's answer when the engine refused its question (the message says why)."""
    return f'<p class="error" role="alert">{esc(message)}</p>'


def select(name: str, options: Iterable[tuple[str, str]], chosen: str | None, label: str) -> str:
    opts = "".join(f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(text)}</option>'
                   for v, text in options)
    return f'<label>{esc(label)} <select name="{esc(name)}" id="{esc(name)}">{opts}</select></label>'


def date_input(name: str, value: object, label: str) -> str:
    return (f'<label>{esc(label)} <input type="date" name="{esc(name)}" id="{esc(name)}" '
            f'value="{esc(value)}" required></label>')


def choose(section_id: str, fields: str, button: str, keep: Mapping[str, object | None]) -> str:
    """The GET form of a section: its ``fields``, the other sections' choices (``keep``) as
    hidden fields, and a submit ``button``."""
    hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in keep.items()
                     if v is not None)
    return (f'<form method="get" action="/ui/#{esc(section_id)}" class="choose" id="{esc(section_id)}-form">'
            f'{fields}{hidden}<button type="submit">{esc(button)}</button></form>')


def document(title: str, body: str, *, user: str | None = None, signed_in: bool = False) -> str:
    """The whole page: the header (who is signed in and the logout form, or that the page is
    open), then ``body``."""
    who = ""
    if user is not None and signed_in:
        who = (f'<p class="who">signed in as <strong id="user">{esc(user)}</strong><form method="post" '
               'action="/ui/logout" class="logout"><button type="submit">Log out</button></form></p>')
    elif user is not None:
        who = '<p class="who">no tokens configured: open to loopback clients</p>'
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="{STYLESHEET}">'
            '</head>'
            f'<body><header><h1><a href="/ui/">meterlake</a></h1>{who}</header><main>{body}</main>'
            '</body></html>')


def html_response(body: str, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status_code, media_type="text/html",
                    headers={**SECURITY_HEADERS, **(headers or {})})
