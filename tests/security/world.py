"""One project with an object behind every kind of URL, for the enumerating tests.

`build_world` writes project A (members owner, maintainer, reviewer, viewer) with a real
proposal, its runs and results, a suite with cases, a comment, a path owner, campaign
memory, an API token, a labeling queue over the candidate run (every item assigned to
the owner), a suite change request with a comment and an import upload of the owner's
waiting for its preview (uploads are private to their uploader), and project B, the only project of `outsider`. `payload` goes
into every text a person or a model supplies (the inert-rendering test sets it).

`module_world` holds the data for a whole test module inside one transaction that is
rolled back at the end; each test runs in a savepoint inside it, so a test's writes
vanish with it and the data is built once per module.

`fill` turns a route (a Django URL pattern or an OpenAPI path) into a URL to a real
object: each placeholder is looked up by its name and the path text before it, so new
routes are covered without editing this file unless they use a new kind of object.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from evolab.api import api
from evolab.evals.change_requests import change_request_comment, change_request_open
from evolab.evals.import_changes import import_upload_store
from evolab.evolution.actions import memory_record
from evolab.evolution.assignment import path_owner_set
from evolab.evolution.benchmark import ProposalFixture, proposal_fixture
from evolab.evolution.review import comment_add
from evolab.labeling.actions import QueueSpec, queue_create
from evolab.labeling.models import LabelingItem
from evolab.projects.actions import token_create
from evolab.projects.models import Membership, Project, Role
from evolab.runs.models import CaseResult
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

PERSONAS = ("owner", "maintainer", "reviewer", "viewer")


@dataclass
class World:
    project: Project
    other: Project
    users: dict[str, User]
    fx: ProposalFixture
    ids: dict[str, Any] = field(default_factory=dict)

    _clients: dict[str, Client] = field(default_factory=dict)

    def client(self, persona: str) -> Client:
        """A logged-in client, made once: its session is part of the world's data."""
        if persona not in self._clients:
            client = Client()
            if persona != "anonymous":
                client.force_login(self.users[persona])
            self._clients[persona] = client
        return self._clients[persona]


def build_world(payload: str = "", free_text: str = "") -> World:
    """`free_text` goes only where any text is accepted (description, comment, memory):
    harness files refuse control characters, so they get `payload` alone."""
    project = ProjectFactory(slug="alpha", name=f"Alpha {payload}"[:100].strip(), description=payload + free_text)
    users: dict[str, User] = {}
    for role in (Role.OWNER, Role.MAINTAINER, Role.REVIEWER, Role.VIEWER):
        users[role.label] = UserFactory(username=role.label)
        MembershipFactory(project=project, user=users[role.label], role=role)
    users["outsider"] = UserFactory(username="outsider")
    other = ProjectFactory(slug="beta", name="Beta")
    MembershipFactory(project=other, user=users["outsider"], role=Role.OWNER)

    fx = proposal_fixture(
        project=project, actor=users["owner"], cases=4, samples=1, guard_cases=2, payload=payload
    )
    comment = comment_add(actor=users["reviewer"], proposal=fx.proposal, text=f"why? {payload}{free_text}"[:2000].strip())
    owner = path_owner_set(actor=users["owner"], project=project, pattern="system.md", user=users["reviewer"])
    memory_record(campaign=fx.campaign, proposal=fx.proposal, text=f"tried refunds {payload}{free_text}".strip())
    token, _ = token_create(user=users["owner"], name=f"ci {payload}"[:100].strip())
    result = CaseResult.objects.filter(run=fx.candidate_run).order_by("pk").first()
    case = fx.suite_version.cases.order_by("key").first()
    assert result is not None and case is not None
    # The owner is the only labeller, so every item (holdout ones too) is theirs.
    queue = queue_create(
        actor=users["owner"],
        project=project,
        spec=QueueSpec(
            name=f"triage {payload}"[:120].strip(),
            run_number=fx.candidate_run.number,
            rubric=f"Pass if correct. {payload}".strip(),
            assignees=["owner"],
            reviewers_per_item=1,
        ),
    )
    item = LabelingItem.objects.filter(queue=queue).order_by("position").first()
    assert item is not None
    suite = fx.suite_version.suite
    change = change_request_open(
        suite=suite,
        author=users["reviewer"],
        title=f"Add a case {payload}"[:200].strip(),
        description=payload + free_text,
        operations=[{"op": "add", "case": {"key": "cr-added", "input": f"new {payload}", "target": f"t {payload}"}}],
    )
    change_request_comment(actor=users["owner"], change_request=change, text=f"looks fine {payload}{free_text}"[:10_000])
    row = {"key": "uploaded", "input": f"q {payload}", "target": f"a {payload}"}
    upload = import_upload_store(
        actor=users["owner"],
        suite=suite,
        filename=f"cases {payload}.jsonl"[:255],
        fmt="jsonl",
        data=json.dumps(row).encode(),
    )
    ids = {
        "slug": project.slug,
        "suite_slug": fx.suite_version.suite.slug,
        "suite_number": fx.suite_version.number,
        "case_key": case.key,
        "harness_number": fx.candidate.number,
        "run_number": fx.candidate_run.number,
        "result_id": result.pk,
        "campaign_number": fx.campaign.number,
        "proposal_number": fx.proposal.number,
        "comment_id": comment.pk,
        "path_owner_id": owner.pk,
        "backend_id": fx.campaign.runner_backend_id,
        "membership_id": Membership.objects.get(project=project, user=users["viewer"]).pk,
        "username": "viewer",
        "token_id": token.pk,
        "curation_kind": "target",
        "queue_number": queue.number,
        "item_position": item.position,
        "change_request_number": change.number,
        "upload_id": upload.pk,
    }
    return World(project=project, other=other, users=users, fx=fx, ids=ids)


def module_world(django_db_blocker: Any, payload: str = "", free_text: str = "") -> Iterator[World]:
    """Build the world once, inside a transaction rolled back when the module is done."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            world = build_world(payload, free_text)
            for persona in (*PERSONAS, "outsider", "anonymous"):
                world.client(persona)  # sessions written now, outside any test's savepoint
            yield world
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# Which object a placeholder stands for: (its name, a pattern the path before it ends
# with) → a key of `World.ids`. First match wins; "" matches any path.
PLACEHOLDERS: list[tuple[str, str, str]] = [
    ("slug", "", "slug"),
    ("suite_slug", "", "suite_slug"),
    ("key", "", "case_key"),
    ("number", r"suites/[^/]+/v/$", "suite_number"),
    ("number", r"harness/v/$|harness/versions/$", "harness_number"),
    ("number", r"runs/$", "run_number"),
    ("number", r"campaigns/$", "campaign_number"),
    ("number", r"proposals/$", "proposal_number"),
    ("number", r"labeling/$|labeling/queues/$", "queue_number"),
    ("position", r"items/$", "item_position"),
    ("number", r"changes/$|change-requests/$", "change_request_number"),
    ("upload_id", "", "upload_id"),
    ("result_id", "", "result_id"),
    ("comment_id", "", "comment_id"),
    ("owner_id", "", "path_owner_id"),
    ("backend_id", "", "backend_id"),
    ("membership_id", "", "membership_id"),
    ("username", "", "username"),
    ("token_id", "", "token_id"),
    ("kind", r"curate/$", "curation_kind"),
]
# Django converters (<int:number>) and OpenAPI placeholders ({number}).
_PLACEHOLDER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>|\{(?P<api_name>\w+)\}")


class Unfilled(KeyError):
    """A placeholder this module cannot fill with a real object."""


def fill(route: str, ids: dict[str, Any], *, strict: bool = True) -> str:
    """`route` with each placeholder replaced by the id of a real object of the world.

    Not strict: an unknown placeholder gets a stand-in (1, or "x"), so the route can
    still be checked for outsiders and anonymous visitors."""
    out, last = [], 0
    for match in _PLACEHOLDER.finditer(route):
        name = match.group("name") or match.group("api_name")
        before = route[: match.start()]
        value = next(
            (ids[key] for pname, after, key in PLACEHOLDERS if pname == name and re.search(after, before)), None
        )
        if value is None:
            if strict:
                raise Unfilled(f"{route}: no object for <{name}>; teach tests/security/world.py PLACEHOLDERS")
            value = 1 if match.group("conv") == "int" or name in ("number", "position") or name.endswith("_id") else "x"
        out += [route[last : match.start()], str(value)]
        last = match.end()
    return "".join([*out, route[last:]])


# ------------------------------------------------------------------ route discovery


@dataclass(frozen=True)
class Page:
    name: str  # namespaced URL name, "" for an unnamed pattern
    route: str  # the full pattern, e.g. "p/<slug:slug>/runs/<int:number>/"

    @property
    def in_project(self) -> bool:
        return "<slug:slug>" in self.route


def pages() -> list[Page]:
    """Every Django URL pattern outside the API (ninja operations are walked from the schema)."""
    found: list[Page] = []

    def walk(resolver: URLResolver, prefix: str, namespace: str) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "api":
                    continue
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                found.append(Page(f"{namespace}{pattern.name or ''}", prefix + str(pattern.pattern)))

    walk(get_resolver(), "", "")
    return found


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # "/api/v1/projects/{slug}/runs/{number}"
    # Required query parameters with a value of their type, so that validation passes
    # and the operation's own access check is what answers.
    query: str = ""

    @property
    def in_project(self) -> bool:
        return "{slug}" in self.path


_SAMPLE_BY_TYPE = {"integer": "1", "number": "1", "boolean": "true"}


def _required_query(operation: dict[str, Any]) -> str:
    pairs = []
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("required"):
            kind = parameter.get("schema", {}).get("type", "string")
            pairs.append(f"{parameter['name']}={_SAMPLE_BY_TYPE.get(kind, 'x')}")
    return "?" + "&".join(pairs) if pairs else ""


def operations() -> list[Operation]:
    schema = api.get_openapi_schema()
    return [
        Operation(method.upper(), path, _required_query(operation))
        for path, item in sorted(schema["paths"].items())
        for method, operation in sorted(item.items())
    ]


@functools.cache
def known_bodies() -> dict[tuple[str, str], dict[str, Any]]:
    """Valid request bodies per API operation, from the apps' permission matrices: an
    outsider must be refused by the project check, not by body validation that runs first."""
    from tests.test_permission_matrix import MATRIX_MODULES

    bodies: dict[tuple[str, str], dict[str, Any]] = {}
    for name in MATRIX_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue  # tests/test_permission_matrix.py fails loudly on a missing matrix
        for endpoint in module.ENDPOINTS:
            if endpoint.api and endpoint.data:
                route = endpoint.route if endpoint.route.startswith("/api/") else f"/api/v1{endpoint.route}"
                bodies.setdefault((endpoint.method, route.rstrip("/")), endpoint.data)
    return bodies
