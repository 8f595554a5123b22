"""The diff page: unified and side by side, per file, htmx partial, inert content."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harnesses.factories import BASE_FILES, make_version

pytestmark = pytest.mark.django_db

SKILL = "".join(f"Rule {n}: be polite about refunds.\n" for n in range(8))


@pytest.fixture
def two_versions(team: Any) -> None:
    make_version(team.project, {**BASE_FILES, "skills/old-name.md": SKILL, "notes.md": "obsolete\n"})
    make_version(
        team.project,
        {
            "harness.yaml": BASE_FILES["harness.yaml"].replace("temperature: 1.0", "temperature: 0.7"),
            "system.md": BASE_FILES["system.md"],
            "skills/new-name.md": SKILL,
            "workflow.md": "Step 1\n",
        },
    )


def _get(team: Any, query: str, **headers: str) -> Any:
    return team.client_for("viewer").get(f"/p/{team.project.slug}/harness/diff/?{query}", headers=headers)


def test_unified_view_lists_every_kind_of_change(team, two_versions: None) -> None:
    response = _get(team, "from=1&to=2")
    assert response.status_code == 200
    body = response.content.decode()
    assert "skills/old-name.md → skills/new-name.md" in body
    assert '<span class="badge diff-renamed">renamed</span>' in body
    assert '<span class="badge diff-added">added</span>' in body
    assert '<span class="badge diff-removed">removed</span>' in body
    assert '<span class="badge diff-modified">modified</span>' in body
    assert "temperature: 0.7" in body and "temperature: 1.0" in body
    assert '<table class="diff unified">' in body
    assert "4 files changed (1 added, 1 removed, 1 modified, 1 renamed)" in body
    assert "1 unchanged" in body


def test_split_view(team, two_versions: None) -> None:
    body = _get(team, "from=1&to=2&view=split").content.decode()
    assert '<table class="diff split">' in body
    assert '<td class="code del"><span class="sr-only">removed: </span>  temperature: 1.0</td>' in body
    assert '<td class="code add"><span class="sr-only">added: </span>  temperature: 0.7</td>' in body


def test_defaults_to_head_against_its_first_parent(team, two_versions: None) -> None:
    body = _get(team, "").content.decode()
    assert "workflow.md" in body and "temperature: 0.7" in body


def test_from_zero_is_the_empty_tree(team, two_versions: None) -> None:
    body = _get(team, "from=0&to=1").content.decode()
    assert "empty tree" in body
    assert body.count('<span class="badge diff-added">added</span>') == 4


def test_htmx_gets_only_the_diff_panel(team, two_versions: None) -> None:
    response = _get(team, "from=1&to=2&view=split", HX_Request="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="diff">')
    assert "<html" not in body
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_a_missing_version_is_404(team, two_versions: None) -> None:
    assert _get(team, "from=1&to=7").status_code == 404


def test_bad_parameters_are_400(team, two_versions: None) -> None:
    assert _get(team, "from=x&to=2").status_code == 400
    assert _get(team, "from=1&to=2&view=fancy").status_code == 400


def test_no_versions_yet(team) -> None:
    response = _get(team, "")
    assert response.status_code == 200
    assert "nothing to compare" in response.content.decode()


def test_diff_content_is_escaped(team) -> None:
    make_version(team.project, {"system.md": "hello\n"})
    make_version(team.project, {"system.md": '<script>alert("x")</script>\n', "<i>x</i>.md": "y"})
    for view in ("unified", "split"):
        body = _get(team, f"from=1&to=2&view={view}").content.decode()
        assert "<script>alert" not in body
        assert "&lt;script&gt;" in body
        assert "<i>x</i>" not in body
