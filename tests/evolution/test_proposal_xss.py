"""Model output and case text on the proposal page are inert: a proposal whose every
model- or case-supplied text carries script, event-handler, htmx and javascript: payloads
renders none of them as markup. The rendered HTML is parsed, not searched as text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from evolab.evolution.benchmark import ProposalFixture, proposal_fixture
from tests.conftest import Team

PAYLOAD = (
    "<script>alert(1)</script><img src=x onerror=alert(1)>"
    '<a hx-get="/x" hx-on:click="alert(1)" href="javascript:alert(1)">go</a>'
    "<div hx-get=/x hx-trigger=load></div>javascript:alert(1)"
)
# The static scripts the page itself loads, and nothing else.
OUR_SCRIPTS = (
    "/static/django_htmx/htmx-2.min.js",
    "/static/js/evolab.js",
    "/static/js/live.js",
    "/static/js/proposal.js",
    "/static/js/csrf.js",
    "/static/js/charts.js",
    "/static/js/vendor/plotly.min.js",
)
OUR_HX = {"hx-get", "hx-post", "hx-trigger", "hx-swap", "hx-target", "hx-push-url", "hx-headers", "hx-confirm"}


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_inert(body: str, page_path: str) -> None:
    parser = Elements()
    parser.feed(body)
    assert parser.elements, "nothing was parsed"
    for tag, attrs in parser.elements:
        names = {name for name, _ in attrs}
        values = dict(attrs)
        if tag == "script":
            src = values.get("src") or ""
            assert src.startswith(OUR_SCRIPTS), f"a script that is not ours: {attrs}"
        assert not any(name.startswith("on") for name in names), f"<{tag}> with an event handler: {attrs}"
        for name, value in attrs:
            text = (value or "").strip().lower()
            assert not text.startswith("javascript:"), f"<{tag} {name}> is a javascript: URL"
            if name.startswith(("hx-", "data-hx-")):
                assert name in OUR_HX, f"<{tag}> with an htmx attribute we never write: {name}"
            if name in ("hx-get", "hx-post"):
                assert (value or "").startswith((page_path, "?", "/p/")), f"<{tag}> {name} to {value!r}"
        if tag == "img":
            raise AssertionError(f"an image from the payload: {attrs}")


@pytest.fixture
def fx(team: Team) -> ProposalFixture:
    return proposal_fixture(project=team.project, actor=team.owner, cases=6, samples=2, guard_cases=3, payload=PAYLOAD)


@pytest.mark.parametrize("persona", ["maintainer", "viewer"])
def test_model_and_case_text_is_inert(team: Team, fx: ProposalFixture, persona: str) -> None:
    client = team.client_for(persona)
    path = f"/p/{fx.project.slug}/proposals/{fx.proposal.number}/"
    payload_key = f"dev-00001 {PAYLOAD}"
    payload_tag = PAYLOAD[:100]
    pages = [
        ("", False),
        ("?case=dev-00001+" + PAYLOAD, False),
        ("?panel=header", True),
        ("?panel=scores", True),
        ("?panel=diff", True),
        ("?panel=diff&view=split", True),
        ("?panel=evidence&sort=key", True),
        ("?panel=pair&case=dev-00000", True),
        ("?panel=pair&case=dev-00001 " + PAYLOAD, True),
    ]
    if persona == "maintainer":
        pages += [("?panel=evidence&split=holdout", True), ("?panel=pair&case=holdout-00000", True)]
    for query, htmx in pages:
        response = client.get(
            path, data=_query(query, payload_key, payload_tag), headers={"HX-Request": "true"} if htmx else {}
        )
        assert response.status_code == 200, query
        body = response.content.decode()
        assert_inert(body, path)
        # The payload is there, as text: the test would pass vacuously if it were not shown.
        # (The scores panel shows numbers only.)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body or query == "?panel=scores", query
    tagged = client.get(path, data={"panel": "evidence", "tag": payload_tag}, headers={"HX-Request": "true"})
    assert tagged.content.decode().count("data-case-row") == 1
    assert_inert(tagged.content.decode(), path)


def _query(query: str, key: str, tag: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for part in query.lstrip("?").split("&"):
        if part:
            name, _, value = part.partition("=")
            data[name] = value
    if data.get("case", "").startswith("dev-00001"):
        data["case"] = key
    return data


def test_the_parser_catches_what_it_should() -> None:
    """The checks above fail on the markup they look for."""
    for bad in (
        "<script>alert(1)</script>",
        '<img src="x">',
        '<p onclick="x()">',
        '<a href=" JavaScript:alert(1)">',
        '<div hx-on:click="x()">',
        '<div hx-get="/x">',
    ):
        with pytest.raises(AssertionError):
            assert_inert(f"<p>ok</p>{bad}", "/p/a/proposals/1/")
