"""Inert rendering: hostile text a person or a model supplied renders as text, never as
markup, on every page and htmx fragment of a project.

The world (world.py) is built with PAYLOAD in every such text: project name and
description, case keys, inputs, targets and tags, model outputs, transcripts, tool
calls and grader details, the proposal's hypothesis, model text and reasons, the
candidate's file contents, campaign guidance and memory, comments, token names, a
labeling queue's name and rubric, a change request's title, description, comment and
added case, an import upload's file name and rows. Every project page found by walking
the URL list is fetched as the owner (who sees most: held-out cases too), as a page and
as an htmx fragment, parsed with html.parser, and checked: no <script> but our static files and JSON data blocks, no on* handler, no
javascript: URL, no htmx attribute our templates never write, no htmx attribute whose
value carries the payload, and no <img>/<svg>/<iframe>/<object> from the payload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from tests.security.world import Page, World, fill, module_world, pages

# Walks every route through the views' own access code, the same on any database:
# `make test` runs it in the SQLite pass only (see ONE_DATABASE_DIRS in tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.one_database]

MARK = "pwn3d"
# Case keys hold 200 characters and the payload goes into a key too, so PAYLOAD is the
# short, sharpest part of the corpus; FREE_TEXT (the rest: more tags, template syntax,
# closing tags, control characters, a 10,000-character line) goes where any text is
# accepted: the project description, a comment, campaign memory. Harness files refuse
# control characters, so PAYLOAD (which also goes into a file) has none.
PAYLOAD = (
    f"<script>{MARK}()</script><img src=x onerror={MARK}()>"
    f'<a hx-get="/{MARK}" hx-on:click="{MARK}()" href="javascript:{MARK}()">x</a>'
    f"<svg onload={MARK}()>\u202e{{{{ x }}}}{{% debug %}}"
)
FREE_TEXT = " ".join(
    [
        f'<div hx-post="/{MARK}" hx-trigger="load" hx-swap="outerHTML" data-hx-get="/{MARK}"></div>',
        f"<iframe src=javascript:{MARK}()></iframe><object data=javascript:{MARK}()></object>",
        f"javascript:{MARK}()",
        "</textarea></pre></code></title><!--",
        "{{ request.user.password }}{% debug %}",
        "\u202eevil.exe\u202c \u0007\u001b[31m\u0008\u200b\u2066",
        f"<script>{MARK}(2)</script>",
        "w" * 10_000,
    ]
)
# The htmx attributes our own templates write (found by reading them, so a new one in a
# template is allowed at once); anything else can only have come from data.
TEMPLATE_DIRS = [Path(settings.BASE_DIR) / "templates", Path(settings.BASE_DIR) / "evolab"]
OUR_HX = {
    name
    for folder in TEMPLATE_DIRS
    for path in folder.rglob("*.html")
    for name in re.findall(r"\b(?:data-)?hx-[a-z:-]+", path.read_text(encoding="utf-8"))
}
PAYLOAD_TAGS = {"img", "svg", "iframe", "object", "embed"}
OK_STATUSES = {200, 301, 302, 303, 307, 308, 405}
HTMX = {"HX-Request": "true"}


# htmx shows these as text in a dialog: data in them is inert.
HX_TEXT = {"hx-confirm", "hx-prompt"}
HX_URL = {"hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete", "hx-push-url"}


def _hx_is_ours(name: str, value: str) -> bool:
    """An htmx attribute our templates write, whose active part the data did not choose:
    a URL may carry data in its query string (URL-encoded), never in its scheme, host or
    path; trigger, target, swap, headers and the rest must not carry data at all."""
    bare = name.removeprefix("data-")
    if name not in OUR_HX:
        return False
    if bare in HX_TEXT:
        return True
    if bare in HX_URL:
        url = urlsplit(value)
        return not url.scheme and not url.netloc and MARK not in url.path
    return MARK not in value


# Characters that reorder or hide the text around them. Inside a form field (a textarea's
# text, an input's value) they are what the person typed and are isolated by the field;
# anywhere else on the page they must have been made visible (the `inert` filters).
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.in_field = 0
        self.bidi: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        if tag == "textarea":
            self.in_field += 1
        for name, value in attrs:
            if value and BIDI.search(value) and name not in ("value", "data-figure"):
                self.bidi.append(f"<{tag} {name}={value[:40]!r}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "textarea":
            self.in_field -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self.in_field = max(0, self.in_field - 1)

    def handle_data(self, data: str) -> None:
        if not self.in_field and BIDI.search(data):
            self.bidi.append(f"text {data[:40]!r}")


def problems(html: str) -> list[str]:
    parser = Elements()
    parser.feed(html)
    found = []
    for tag, attrs in parser.elements:
        if tag == "script":
            ours = attrs.get("src", "").startswith(settings.STATIC_URL) or attrs.get("type") == "application/json"
            if not ours:
                found.append(f"<script {attrs}>")
        if tag in PAYLOAD_TAGS and MARK in " ".join(attrs.values()):
            found.append(f"<{tag} {attrs}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"<{tag} {name}=...>")
            if value.strip().lower().startswith("javascript:"):
                found.append(f"<{tag} {name}={value[:40]!r}>")
            if name.startswith(("hx-", "data-hx-")) and not _hx_is_ours(name, value):
                found.append(f"<{tag} {name}={value[:40]!r}>")
    found.extend(f"raw bidirectional control in {where}" for where in parser.bidi)
    return found


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    yield from module_world(django_db_blocker, payload=PAYLOAD, free_text=FREE_TEXT)


def test_the_checker_catches_each_kind_of_hole() -> None:
    assert problems(PAYLOAD) and problems(FREE_TEXT)  # the raw corpus is full of them
    assert problems(f'<a hx-get="/{MARK}">') and problems('<a hx-on:click="x">') and problems("<b onclick=x>")
    assert problems(f'<a hx-get="/p/{MARK}/">') and problems(f'<a hx-get="//{MARK}/">') and problems(f'<a hx-trigger="{MARK}">')
    assert problems("<p>\u202eevil</p>") and problems('<li title="\u202eevil">')
    assert not problems("<textarea>\u202ewhat they typed</textarea><input value='\u202ex'>")
    assert not problems('<script src="/static/js/evolab.js"></script><a hx-get="/p/alpha/">ok</a>')
    assert not problems(f'<form hx-confirm="Remove <script>{MARK}"><a hx-get="?case=%3C{MARK}">')


@pytest.mark.parametrize("page", [p for p in pages() if p.in_project], ids=lambda p: p.name or p.route)
def test_every_project_page_renders_the_payload_inert(world: World, page: Page) -> None:
    url = "/" + fill(page.route, world.ids, strict=False).lstrip("/")
    client = world.client("owner")
    for headers in ({}, HTMX):
        response = client.get(url, headers=headers)
        where = f"GET {url}{' (htmx)' if headers else ''}"
        is_html = "html" in response.get("Content-Type", "")
        # The owner reaches every page of the world: any other answer (an error page, a
        # 404 for an object the world lacks) would let a page go unchecked, so it fails,
        # unless it is a redirect, a POST-only route refusing GET, or not HTML at all
        # (CSV/JSON exports are not rendered by a browser as a page).
        allowed = response.status_code in OK_STATUSES or not is_html
        assert allowed, f"{where}: {response.status_code}, so the page was not checked"
        if not is_html:
            continue
        found = problems(response.content.decode())
        assert not found, f"{where}: {found[:5]}"


def test_the_payload_is_really_on_the_pages(world: World) -> None:
    """Guard against a vacuous pass: the escaped payload appears on the pages that show it."""
    client = world.client("owner")
    proposal = f"/p/{world.project.slug}/proposals/{world.ids['proposal_number']}/"
    html = client.get(proposal).content.decode()
    assert f"&lt;script&gt;{MARK}()&lt;/script&gt;" in html
    result = f"/p/{world.project.slug}/runs/{world.ids['run_number']}/results/{world.ids['result_id']}/"
    assert f"&lt;svg onload={MARK}()&gt;" in client.get(result).content.decode()
    assert f"&lt;script&gt;{MARK}(2)&lt;/script&gt;" in html, "the comment's free text is not on the page"


# ------------------------------------------------------------------ chart figures

# A figure reaches the page as JSON in `data-figure` (HTML-escaped by the template, so
# the page check above sees no tag in it); static/js/charts.js then gives it to
# plotly.js, which draws every string of it (hover text, tick labels, annotations,
# titles, legend names) through its own small HTML reader: it splits on `<...>` and
# makes <a href> a live link, <span style> restyles, <b>/<br> format. Our figures write
# only these bare tags; any other tag, or one with attributes, came from data.
OUR_FIGURE_TAGS = {"<br>", "<b>", "</b>", "<i>", "</i>", "<extra>", "</extra>"}
PLOTLY_TAG = re.compile(r"(<[^<>]*>)")  # how plotly.js splits a string into text and tags


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def figure_problems(figure: dict[str, Any]) -> list[str]:
    """Tags plotly.js would build from data, and click targets that leave the site
    (charts.js opens a point's customdata only when it is a path of ours)."""
    found = []
    for text in _strings(figure):
        found += [f"tag {piece[:60]!r}" for piece in PLOTLY_TAG.findall(text) if piece not in OUR_FIGURE_TAGS]
    for trace in figure.get("data", []):
        for target in _strings(trace.get("customdata", [])):
            if not target.startswith("/") or target.startswith("//"):
                found.append(f"customdata {target[:60]!r}")
    return found


def figures_on(html: str) -> list[dict[str, Any]]:
    parser = Elements()
    parser.feed(html)
    return [json.loads(attrs["data-figure"]) for _, attrs in parser.elements if "data-figure" in attrs]


def chart_urls(world: World) -> list[str]:
    """Every chart page (found by walking the URL list: a new one is checked at once), and
    the compare page with the world's two dev runs, so that all its figures are drawn."""
    urls = [
        "/" + fill(page.route, world.ids).lstrip("/")
        for page in pages()
        if page.name.startswith("charts:") and page.in_project
        # exports are not drawn; compare without runs is its form (the page walk checks it)
        and page.name not in ("charts:run_csv", "charts:run_json", "charts:compare")
    ]
    runs = f"baseline={world.fx.parent_run.number}&runs={world.fx.candidate_run.number}"
    return [*urls, f"/p/{world.project.slug}/compare/?{runs}&scatter={world.fx.candidate_run.number}"]


def test_the_figure_checker_catches_plotly_markup() -> None:
    assert figure_problems({"data": [{"text": [f'<a href="https://{MARK}.example">x</a>']}]})
    assert figure_problems({"data": [{"y": [f'<span style="font-size:99px">{MARK}</span>']}]})
    assert figure_problems({"layout": {"annotations": [{"text": "<b onclick=x>"}]}})
    assert figure_problems({"data": [{"customdata": [f"javascript:{MARK}()", f"//{MARK}.example/"]}]})
    assert not figure_problems(
        {"data": [{"text": [f"&lt;a href=x&gt;{MARK}"], "hovertemplate": "<b>%{text}</b><br><extra></extra>"}]}
    )


def test_chart_figures_draw_the_payload_as_text(world: World) -> None:
    # A pause reason is a person's words, drawn as an annotation on the campaign chart.
    type(world.fx.campaign).objects.filter(pk=world.fx.campaign.pk).update(status_reason=PAYLOAD[:300])
    client = world.client("owner")
    drawn: list[str] = []
    for url in chart_urls(world):
        response = client.get(url)
        assert response.status_code == 200, f"GET {url}: {response.status_code}"
        figures = figures_on(response.content.decode())
        assert figures, f"GET {url}: no figure drawn"
        for figure in figures:
            found = figure_problems(figure)
            assert not found, f"GET {url}: {found[:5]}"
            drawn += _strings(figure)
    # Not vacuous: the payload (case keys, tags, the pause reason) is in the figures,
    # escaped so plotly.js shows it as the text it is.
    shown = "\n".join(drawn)
    assert f"&lt;script&gt;{MARK}()&lt;/script&gt;" in shown
    assert f'&lt;a hx-get="/{MARK}"' in shown and "<a hx-get" not in shown
