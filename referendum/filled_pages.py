"""Pages rendered once per process and filled in per request: the confirmation and the receipt,
the two pages every ballot cast through the HTML form costs.

Two voters of one poll who chose one answer get the same two pages but for a few values: the code,
the tracker and its token, the CSRF token, the page's own address. Everything else follows from the
template, the language, the poll and the answer (a poll's definition is frozen once it leaves
draft). Rendering them with the template engine took about a millisecond each, as long as a whole
JSON cast (`make bench`). So each variant is rendered once, with a marker in place of every value
that changes from one request to the next, and each request swaps its own values in, escaped as
the template escapes them (`{{ value }}` autoescapes; every value is used only that way).

tests/test_filled_pages.py renders each variant both ways, with values that need escaping and
with a second voter after a first, and compares them byte for byte: a template that starts to
use another per-request value shows up there.
"""

import re
import secrets

from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.translation import get_language

from .context_processors import page_url

# Random per process, so no value a client sends can spell a marker the page will replace.
_MARK = secrets.token_hex(8)
# (template, language, view, key, group counts) → the page with markers; a few entries per poll.
_rendered = {}


_MARKERS = re.compile(r"\[" + _MARK + r":([^\]]+)\]")


def _marker(name):
    return f"[{_MARK}:{name}]"


class _MarkedRequest:
    """The template's `request`, whose address (the language switch's `next`) is a marker."""

    def __init__(self, request):
        self._request = request

    def get_full_path(self):
        return _marker("path")

    def __getattr__(self, name):
        return getattr(self._request, name)


def render_filled(request, template_name, context, key, values, grouped=()):
    """What render(request, template_name, {**context, **values}) returns, rendered once per
    (template, language, view, `key`): the view names the page's link preview.

    `context` holds what `key` determines (with the language); `values` (name → text) what this
    request shows; names in `grouped` are values written "ABCD-EFGH-…" that templates also show
    group by group (the tracker), so each group gets a marker of its own.
    """
    url = page_url(request)
    if url is None:  # a Host we do not serve: the page leaves its address out (never the case here)
        return render(request, template_name, {**context, **values})
    groups = {name: values[name].split("-") for name in grouped}
    view = request.resolver_match.url_name if request.resolver_match else None  # the link preview's
    memo_key = (template_name, get_language(), view, key, tuple(len(parts) for parts in groups.values()))
    page = _rendered.get(memo_key)
    if page is None:
        marked = {name: _marker(name) for name in values}
        marked.update({name: "-".join(_marker(f"{name}.{i}") for i in range(len(parts)))
                       for name, parts in groups.items()})
        page = render_to_string(template_name, {
            **context, **marked, "csrf_token": _marker("csrf"), "page_url": _marker("url"),
            "request": _MarkedRequest(request),
        }, request=request)
        _rendered[memo_key] = page
    fills = {"url": url, "path": request.get_full_path()}
    if _marker("csrf") in page:  # only then: get_token() also makes the response set the cookie
        fills["csrf"] = get_token(request)
    for name, value in values.items():
        if name in groups:
            fills.update((f"{name}.{i}", part) for i, part in enumerate(groups[name]))
        else:
            fills[name] = value
    fills = {name: escape(value) for name, value in fills.items()}
    # One pass: a value swapped in is never searched for markers itself.
    return HttpResponse(_MARKERS.sub(lambda match: fills[match.group(1)], page))
