"""version_create, head_move (compare-and-swap), version_revert, immutability and audit."""

from __future__ import annotations

import io
import unicodedata

import pytest

from evolab.core.errors import Conflict, ValidationFailed
from evolab.core.models import AuditEvent
from evolab.harnesses import actions
from evolab.harnesses.models import HarnessHead, HarnessParent, HarnessVersion, ImmutableVersionError
from evolab.harnesses.selectors import get_version, head_of, versions_of
from evolab.harnesses.tree import canonical_digest
from tests.factories import ProjectFactory
from tests.harnesses.factories import BASE_FILES, make_version, make_zip

pytestmark = pytest.mark.django_db


def _actions(project_id: int) -> list[str]:
    return list(AuditEvent.objects.filter(project_id=project_id).order_by("id").values_list("action", flat=True))


def test_first_version_becomes_head(team) -> None:
    version = make_version(team.project, actor=team.maintainer, message="first")
    assert (version.number, version.author, version.author_label, version.message) == (
        1,
        team.maintainer,
        "maintainer",
        "first",
    )
    assert version.digest == canonical_digest(BASE_FILES)
    assert version.short_digest == version.digest[:7]
    assert list(version.files) == sorted(BASE_FILES)
    assert head_of(team.project) == version
    assert list(version.parents.all()) == []


def test_next_version_has_head_as_parent(team) -> None:
    v1 = make_version(team.project)
    v2 = make_version(team.project, {**BASE_FILES, "skills/a.md": "a\n"})
    assert v2.number == 2
    assert list(v2.parents.all()) == [v1]
    assert head_of(team.project) == v2


def test_numbers_are_per_project(team) -> None:
    make_version(team.project)
    other = make_version(ProjectFactory())
    assert other.number == 1


def test_an_unchanged_tree_is_refused(team) -> None:
    make_version(team.project)
    with pytest.raises(Conflict, match="Nothing changed"):
        make_version(
            team.project,
            {"system.md": BASE_FILES["system.md"].replace("\n", "\r\n"), "harness.yaml": BASE_FILES["harness.yaml"]},
        )
    assert versions_of(team.project).count() == 1


def test_an_older_tree_can_come_back(team) -> None:
    v1 = make_version(team.project)
    make_version(team.project, {"system.md": "other\n"})
    v3 = make_version(team.project)
    assert v3.digest == v1.digest and v3.number == 3


def test_a_lone_nfd_path_is_stored_nfc(team) -> None:
    version = make_version(team.project, {unicodedata.normalize("NFD", "café.md"): "x"})
    assert list(version.files) == [unicodedata.normalize("NFC", "café.md")]


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a/../../x", ""])
def test_unsafe_paths_store_nothing(team, path: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_version(team.project, {path: "x", "system.md": "s"})
    assert caught.value.field == f"files[{path!r}]"
    assert not HarnessVersion.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="harness").exists()


def test_nfc_and_nfd_duplicates_store_nothing(team) -> None:
    name = "skills/résumé.md"
    with pytest.raises(ValidationFailed, match="twice"):
        make_version(team.project, {unicodedata.normalize("NFC", name): "1", unicodedata.normalize("NFD", name): "2"})
    assert not HarnessVersion.objects.exists()


def test_a_message_is_required(team) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_version(team.project, message="   ")
    assert caught.value.field == "message"


# harness.yaml ----------------------------------------------------------------------------


def test_a_bad_temperature_names_the_field(team) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_version(team.project, {"harness.yaml": "sampling:\n  temperature: 3.5\n"})
    assert caught.value.field == "files['harness.yaml'].sampling.temperature"
    assert "sampling.temperature" in caught.value.message
    assert not HarnessVersion.objects.exists()


def test_an_unknown_key_names_the_key(team) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_version(team.project, {"harness.yaml": "sampling:\n  temprature: 0.5\n"})
    assert caught.value.field == "files['harness.yaml'].sampling.temprature"
    assert "unknown key" in caught.value.message


def test_an_unknown_tool_is_refused(team) -> None:
    with pytest.raises(ValidationFailed, match=r"agent\.tools"):
        make_version(team.project, {"harness.yaml": "agent:\n  tools: [rm_rf]\n"})


def test_invalid_yaml_names_the_line(team) -> None:
    with pytest.raises(ValidationFailed, match="line 3, column 1: invalid YAML") as caught:
        make_version(team.project, {"harness.yaml": "sampling:\n  temperature: [1\n"})
    assert caught.value.field == "files['harness.yaml']"


def test_a_template_must_exist_in_the_tree(team) -> None:
    with pytest.raises(ValidationFailed, match=r"prompts/sys\.md") as caught:
        make_version(team.project, {"harness.yaml": "templates:\n  system: prompts/sys.md\n"})
    assert caught.value.field == "files['harness.yaml'].templates.system"


def test_a_valid_config_with_every_knob_is_accepted(team) -> None:
    config = (
        "sampling:\n  temperature: 0.7\n  top_p: 0.9\n  top_k: 40\n  max_tokens: 1024\n"
        "  presence_penalty: 0.1\n  frequency_penalty: 0.2\n  seed: 7\n"
        "agent:\n  max_turns: 12\n  loop_guard:\n    window: 6\n    threshold: 3\n  tools: [calculator, lookup]\n"
    )
    assert make_version(team.project, {"harness.yaml": config}).number == 1


def test_harness_yaml_is_optional(team) -> None:
    assert make_version(team.project, {"system.md": "s"}).number == 1


# head compare-and-swap -------------------------------------------------------------------


def test_head_move_with_a_stale_expectation_leaves_head_untouched(team) -> None:
    v1 = make_version(team.project)
    v2 = make_version(team.project, {"system.md": "two"})
    v3 = make_version(team.project, {"system.md": "three"}, parents=[v2], move_head=False)
    before = list(AuditEvent.objects.values_list("pk", flat=True))
    with pytest.raises(Conflict, match="Head moved: it is v2 now, not v1") as caught:
        actions.head_move(actor=team.owner, project=team.project, expected=v1, new=v3)
    assert caught.value.details == {"expected": 1, "head": 2}
    assert head_of(team.project) == v2
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == before


def test_head_move_from_the_expected_version(team) -> None:
    v1 = make_version(team.project)
    v2 = make_version(team.project, {"system.md": "two"}, move_head=False)
    assert head_of(team.project) == v1
    actions.head_move(actor=team.owner, project=team.project, expected=v1, new=v2)
    assert head_of(team.project) == v2
    event = AuditEvent.objects.filter(action="harness.head").first()
    assert (event.before, event.after) == ({"number": 1, "digest": v1.digest}, {"number": 2, "digest": v2.digest})
    assert event.actor == team.owner


def test_head_move_expecting_no_head_fails_once_there_is_one(team) -> None:
    v1 = make_version(team.project)
    v2 = make_version(team.project, {"system.md": "two"}, move_head=False)
    with pytest.raises(Conflict):
        actions.head_move(actor=team.owner, project=team.project, expected=None, new=v2)
    assert head_of(team.project) == v1


def test_creating_on_a_stale_parent_stores_nothing(team) -> None:
    v1 = make_version(team.project)
    make_version(team.project, {"system.md": "two"})
    with pytest.raises(Conflict, match="Head moved"):
        make_version(team.project, {"system.md": "three"}, parents=[v1])
    assert versions_of(team.project).count() == 2
    assert head_of(team.project).number == 2


def test_a_version_can_be_stored_without_moving_head(team) -> None:
    v1 = make_version(team.project)
    candidate = make_version(team.project, {"system.md": "candidate"}, move_head=False, author_label="proposal #41")
    assert head_of(team.project) == v1
    assert candidate.author_label == "proposal #41"
    assert list(candidate.parents.all()) == [v1]


def test_parents_keep_their_order(team) -> None:
    v1 = make_version(team.project)
    side = make_version(team.project, {"system.md": "side"}, move_head=False)
    merged = make_version(team.project, {"system.md": "merged"}, parents=[v1, side])
    links = HarnessParent.objects.filter(child=merged).order_by("position")
    assert [(link.parent.number, link.position) for link in links] == [(1, 0), (2, 1)]


def test_parents_from_another_project_are_refused(team) -> None:
    foreign = make_version(ProjectFactory())
    with pytest.raises(ValidationFailed, match="another project"):
        make_version(team.project, parents=[foreign], move_head=False)


# revert ------------------------------------------------------------------------------------


def test_revert_creates_a_new_version_on_top_of_head(team) -> None:
    v1 = make_version(team.project)
    v2 = make_version(team.project, {"system.md": "worse"})
    v3 = actions.version_revert(actor=team.maintainer, project=team.project, target=v1, reason="scores fell")
    assert v3.number == 3
    assert v3.files == v1.files and v3.digest == v1.digest
    assert v3.message == "Revert to v1: scores fell"
    assert list(v3.parents.all()) == [v2]
    assert head_of(team.project) == v3
    revert = AuditEvent.objects.get(action="harness.revert")
    assert revert.after["target"] == 1 and revert.after["reason"] == "scores fell"
    assert revert.before == {"number": 2, "digest": v2.digest}


def test_revert_needs_a_reason(team) -> None:
    v1 = make_version(team.project)
    make_version(team.project, {"system.md": "worse"})
    with pytest.raises(ValidationFailed) as caught:
        actions.version_revert(actor=team.maintainer, project=team.project, target=v1, reason=" ")
    assert caught.value.field == "reason"


def test_revert_to_the_head_tree_is_refused(team) -> None:
    v1 = make_version(team.project)
    with pytest.raises(Conflict, match="Nothing to revert"):
        actions.version_revert(actor=team.maintainer, project=team.project, target=v1, reason="why")
    assert versions_of(team.project).count() == 1


# immutability and audit -------------------------------------------------------------------


def test_versions_cannot_be_changed_or_deleted(team) -> None:
    version = make_version(team.project)
    version.message = "rewritten"
    with pytest.raises(ImmutableVersionError):
        version.save()
    with pytest.raises(ImmutableVersionError):
        HarnessVersion.objects.filter(pk=version.pk).update(message="rewritten")
    with pytest.raises(ImmutableVersionError):
        version.delete()
    assert get_version(team.project, 1).message == "a change"


def test_deleting_a_project_removes_its_harness(team) -> None:
    make_version(team.project)
    make_version(team.project, {"system.md": "two"})
    team.project.delete()
    assert not HarnessVersion.objects.exists()
    assert not HarnessHead.objects.exists()


def test_audit_events_are_written(team) -> None:
    v1 = make_version(team.project, actor=team.maintainer)
    make_version(team.project, {"system.md": "two"}, actor=team.maintainer)
    actions.version_revert(actor=team.owner, project=team.project, target=v1, reason="r")
    # A commit by a person writes its version and head move; a revert is one decision, one event.
    assert _actions(team.project.pk) == [
        "harness.version.create",
        "harness.head",
        "harness.version.create",
        "harness.head",
        "harness.revert",
    ]
    create = AuditEvent.objects.filter(action="harness.version.create").order_by("id").first()
    assert create.actor == team.maintainer
    assert create.object_type == "harness_version" and create.object_id == str(v1.pk)
    assert create.after["number"] == 1 and create.after["files"] == 2
    first_head = AuditEvent.objects.filter(action="harness.head").order_by("id").first()
    assert first_head.before is None and first_head.after["number"] == 1
    revert = AuditEvent.objects.get(action="harness.revert")
    assert revert.actor == team.owner
    assert revert.after == {
        "number": 3,
        "digest": v1.digest,
        "parents": [2],
        "files": 2,
        "author": "owner",
        "target": 1,
        "reason": "r",
    }


def test_a_head_move_audited_by_its_caller_writes_no_event(team) -> None:
    v1 = make_version(team.project)
    before = AuditEvent.objects.count()
    v2 = make_version(team.project, {"system.md": "two"}, audited_by_caller=True)
    assert head_of(team.project) == v2
    v3 = make_version(team.project, {"system.md": "three"}, move_head=False, audited_by_caller=True)
    actions.head_move(actor=team.owner, project=team.project, expected=v2, new=v3, audited_by_caller=True)
    assert head_of(team.project) == v3
    assert AuditEvent.objects.count() == before
    with pytest.raises(Conflict):  # still compare-and-swap
        actions.head_move(actor=team.owner, project=team.project, expected=v1, new=v2, audited_by_caller=True)


def test_zip_creates_a_version(team) -> None:
    data = make_zip({"h/system.md": "s\n", "h/harness.yaml": "sampling:\n  seed: 3\n"})
    version = actions.version_create_from_zip(
        actor=team.owner, project=team.project, upload=io.BytesIO(data), message="zip"
    )
    assert version.files == {"harness.yaml": "sampling:\n  seed: 3\n", "system.md": "s\n"}
