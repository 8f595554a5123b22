"""Pages: suite list and create, the suite page (filters, pagination, htmx), a case, import, export."""

from __future__ import annotations

import json

import pytest

from evolab.evals.models import EvalSuite
from tests.conftest import Team
from tests.evals.conftest import HOLDOUT_INPUT, HOLDOUT_TARGET
from tests.evals.factories import EvalSuiteFactory, make_version

pytestmark = pytest.mark.django_db

SECRETS = (HOLDOUT_INPUT, HOLDOUT_TARGET, "SECRET-HOLDOUT-META")


def _suite_url(team: Team, suite: EvalSuite, query: str = "") -> str:
    return f"/p/{team.project.slug}/suites/{suite.slug}/{query}"


def _keys_on_page(body: bytes, keys: list[str]) -> list[str]:
    return [key for key in keys if f">{key}</a>".encode() in body]


class TestSuiteList:
    def test_it_lists_suites_with_their_latest_version(self, team: Team, suite: EvalSuite) -> None:
        EvalSuiteFactory(project=team.project, name="Empty one")
        response = team.client_for("viewer").get(f"/p/{team.project.slug}/suites/")
        assert response.status_code == 200
        assert b"Support" in response.content and b"v1" in response.content and b"none yet" in response.content
        assert b"New suite" not in response.content  # no create form below maintainer

    def test_maintainer_creates_a_suite(self, team: Team) -> None:
        client = team.client_for("maintainer")
        response = client.post(
            f"/p/{team.project.slug}/suites/", {"name": "Refunds", "default_grader": '{"type": "exact"}'}
        )
        assert response.status_code == 302 and response["Location"].endswith("/suites/refunds/import/")
        assert EvalSuite.objects.get(slug="refunds").default_grader == {"type": "exact"}

    def test_it_shows_create_errors(self, team: Team) -> None:
        client = team.client_for("maintainer")
        response = client.post(f"/p/{team.project.slug}/suites/", {"name": "X", "default_grader": '{"type": "nope"}'})
        assert response.status_code == 422 and b"Invalid grader" in response.content
        response = client.post(f"/p/{team.project.slug}/suites/", {"name": "X", "default_grader": "[1]"})
        assert response.status_code == 422 and b"JSON object" in response.content
        assert not EvalSuite.objects.exists()

    def test_query_count_does_not_grow_with_suites(self, team: Team, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
        client = team.client_for("viewer")
        url = f"/p/{team.project.slug}/suites/"
        for n in (3, 30):
            while EvalSuite.objects.count() < n:
                make_version(EvalSuiteFactory(project=team.project), [{"key": "a"}])
            with django_assert_max_num_queries(6):  # 2 of them: the nav counts
                assert client.get(url).status_code == 200


class TestSuitePage:
    def test_holdout_is_sealed_below_maintainer(self, team: Team, suite: EvalSuite) -> None:
        for persona in ("viewer", "reviewer"):
            response = team.client_for(persona).get(_suite_url(team, suite))
            assert response.status_code == 200
            assert b"hold-1" in response.content and b"sealed (holdout)" in response.content
            for secret in SECRETS:
                assert secret.encode() not in response.content
            assert b"Can I get a refund?" in response.content

    def test_maintainer_and_owner_see_holdout(self, team: Team, suite: EvalSuite) -> None:
        for persona in ("maintainer", "owner"):
            response = team.client_for(persona).get(_suite_url(team, suite))
            assert HOLDOUT_INPUT.encode() in response.content
            assert b"sealed (holdout)" not in response.content

    def test_filters(self, team: Team, suite: EvalSuite) -> None:
        client = team.client_for("owner")
        keys = ["refund-001", "HumanEval/0", "date-002", "hold-1"]
        cases = {
            "?tag=policy": ["refund-001", "hold-1"],
            "?split=dev": ["date-002"],
            "?split=holdout&tag=policy": ["hold-1"],
            "?q=REFUND": ["refund-001", "hold-1"],  # key or text, case-insensitive
            "?q=what+day": ["date-002"],  # inside chat messages
            "?tag=nope": [],
            "?split=bogus": keys,  # an unknown split filters nothing
        }
        for query, expected in cases.items():
            response = client.get(_suite_url(team, suite, query))
            assert _keys_on_page(response.content, keys) == expected, query

    def test_search_does_not_match_inside_sealed_cases(self, team: Team, suite: EvalSuite) -> None:
        viewer = team.client_for("viewer").get(_suite_url(team, suite, "?q=refund+window"))
        assert b"hold-1" not in viewer.content and b"No case matches" in viewer.content
        maintainer = team.client_for("maintainer").get(_suite_url(team, suite, "?q=refund+window"))
        assert b"hold-1" in maintainer.content
        by_key = team.client_for("viewer").get(_suite_url(team, suite, "?q=hold-"))
        assert b"hold-1" in by_key.content

    def test_htmx_gets_only_the_cases_table(self, team: Team, suite: EvalSuite) -> None:
        response = team.client_for("viewer").get(_suite_url(team, suite, "?split=dev"), HTTP_HX_REQUEST="true")
        body = response.content.decode()
        assert body.lstrip().startswith('<section id="cases"') and "<html" not in body
        assert "date-002" in body and "refund-001" not in body
        assert "HX-Request" in response["Vary"]

    def test_pagination(self, team: Team) -> None:
        suite = EvalSuiteFactory(project=team.project)
        make_version(suite, [{"key": f"k{i:03d}"} for i in range(120)])
        client = team.client_for("viewer")
        page1 = client.get(_suite_url(team, suite))
        assert b">k000</a>" in page1.content and b">k049</a>" in page1.content and b">k050</a>" not in page1.content
        assert b"Page 1 of 3" in page1.content
        page3 = client.get(_suite_url(team, suite, "?page=3"))
        assert b">k100</a>" in page3.content and b">k119</a>" in page3.content and b">k099</a>" not in page3.content

    def test_older_versions_and_missing_ones(self, team: Team, suite: EvalSuite) -> None:
        make_version(suite, [{"key": "only-in-v2"}])
        client = team.client_for("viewer")
        assert b"only-in-v2" in client.get(_suite_url(team, suite)).content
        v1 = client.get(_suite_url(team, suite, "?version=1"))
        assert b"only-in-v2" not in v1.content and b"refund-001" in v1.content
        assert client.get(_suite_url(team, suite, "?version=9")).status_code == 404
        assert client.get(_suite_url(team, suite, "?version=x")).status_code == 404

    def test_a_suite_without_versions_invites_an_import(self, team: Team) -> None:
        suite = EvalSuiteFactory(project=team.project)
        response = team.client_for("maintainer").get(_suite_url(team, suite))
        assert b"no version yet" in response.content and b"Import its cases" in response.content

    def test_case_text_is_inert(self, team: Team) -> None:
        suite = EvalSuiteFactory(project=team.project)
        make_version(suite, [{"key": "xss", "input": "<script>alert(1)</script>\x1b[31m", "target": "<b>x</b>"}])
        client = team.client_for("viewer")
        for url in (_suite_url(team, suite), f"{_suite_url(team, suite)}v/1/cases/xss/"):
            body = client.get(url).content
            assert b"<script>alert(1)" not in body and b"<b>x</b>" not in body
            assert b"&lt;script&gt;alert(1)&lt;/script&gt;\xe2\x90\x9b[31m" in body  # ESC shown as U+241B

    def test_query_count_does_not_grow_with_cases(self, team: Team, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
        client = team.client_for("viewer")
        for n in (10, 100):
            suite = EvalSuiteFactory(project=team.project)
            make_version(
                suite,
                [
                    {"key": f"k{i}", "tags": ["a", f"t{i % 7}"], "split": "holdout" if i % 3 else "dev"}
                    for i in range(n)
                ],
            )
            with django_assert_max_num_queries(13):  # 2 of them: the nav counts; 1 the open change requests
                assert client.get(_suite_url(team, suite, "?q=k&tag=a")).status_code == 200


class TestCasePage:
    def test_it_shows_a_case_with_its_effective_grader(self, team: Team, suite: EvalSuite) -> None:
        response = team.client_for("viewer").get(f"{_suite_url(team, suite)}v/1/cases/date-002/")
        assert response.status_code == 200
        assert b"What day is it?" in response.content and b"(the version's default)" in response.content
        assert b"&quot;exact&quot;" in response.content

    def test_keys_with_slashes(self, team: Team, suite: EvalSuite) -> None:
        response = team.client_for("viewer").get(f"{_suite_url(team, suite)}v/1/cases/HumanEval/0/")
        assert response.status_code == 200 and b"def add(a, b):" in response.content

    def test_holdout_case_is_sealed_below_maintainer(self, team: Team, suite: EvalSuite) -> None:
        url = f"{_suite_url(team, suite)}v/1/cases/hold-1/"
        for persona in ("viewer", "reviewer"):
            response = team.client_for(persona).get(url)
            assert response.status_code == 200 and b"Sealed holdout case" in response.content
            for secret in SECRETS:
                assert secret.encode() not in response.content
        for persona in ("maintainer", "owner"):
            response = team.client_for(persona).get(url)
            assert all(secret.encode() in response.content for secret in SECRETS)

    def test_unknown_case_or_version_is_404(self, team: Team, suite: EvalSuite) -> None:
        client = team.client_for("owner")
        assert client.get(f"{_suite_url(team, suite)}v/1/cases/nope/").status_code == 404
        assert client.get(f"{_suite_url(team, suite)}v/2/cases/refund-001/").status_code == 404


class TestExport:
    def test_maintainer_export_includes_holdout(self, team: Team, suite: EvalSuite) -> None:
        response = team.client_for("maintainer").get(f"{_suite_url(team, suite)}export/?version=1")
        lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
        assert [row["key"] for row in lines] == ["refund-001", "HumanEval/0", "date-002", "hold-1"]
        assert response["X-Evolab-Holdout"] == "included"
        assert 'filename="support-v1.jsonl"' in response["Content-Disposition"]

    def test_reviewer_export_omits_holdout_entirely(self, team: Team, suite: EvalSuite) -> None:
        for persona in ("reviewer", "viewer"):
            response = team.client_for(persona).get(f"{_suite_url(team, suite)}export/")
            body = b"".join(response.streaming_content)
            assert b"hold-1" not in body and all(secret.encode() not in body for secret in SECRETS)
            assert body.count(b"\n") == 3 and response["X-Evolab-Holdout"] == "omitted"

    def test_export_of_a_suite_without_versions_is_404(self, team: Team) -> None:
        suite = EvalSuiteFactory(project=team.project)
        assert team.client_for("owner").get(f"{_suite_url(team, suite)}export/").status_code == 404
