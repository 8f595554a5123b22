"""API rate limits per bearer token, counted atomically on a store that processes share.

Each test runs twice: on the embedded store (a database table) and on Redis."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client

from evolab.core.models import RateCounter
from evolab.core.ratelimit import Rate, hit, parse_rate
from evolab.projects.actions import token_create
from tests.conftest import Team
from tests.reliability.conftest import redis_url

PARALLEL = 50
LIMIT = 10


def _wait_clear_of_window_end(window_s: int, margin_s: float = 5.0) -> None:
    """A burst that straddled two windows would be counted in both: start it well inside one."""
    left = window_s - time.time() % window_s
    if left < margin_s:
        time.sleep(left + 0.05)


@pytest.mark.parametrize(
    ("text", "rate"),
    [("600/min", Rate(600, 60)), ("10/sec", Rate(10, 1)), (" 5 / hour ", Rate(5, 3600)), ("off", None), ("", None)],
)
def test_it_parses_rates(text: str, rate: Rate | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["600", "ten/min", "5/fortnight", "-1/min", "0/min"])
def test_it_refuses_bad_rates(text: str) -> None:
    with pytest.raises(ImproperlyConfigured):
        parse_rate(text)


@pytest.mark.django_db(transaction=True)
def test_parallel_hits_let_exactly_the_limit_through(rate_store: str) -> None:
    """50 threads, each on its own database connection, bump one counter at once."""
    rate = Rate(LIMIT, 3600)
    _wait_clear_of_window_end(rate.window_s)
    start = threading.Barrier(PARALLEL)
    now = time.time()

    def one(_: int) -> tuple[bool, int]:
        try:
            start.wait()
            decision = hit("test:parallel", rate, now=now)
            return decision.allowed, decision.count
        finally:
            connection.close()

    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(one, range(PARALLEL)))
    assert sum(allowed for allowed, _ in outcomes) == LIMIT
    assert sorted(count for _, count in outcomes) == list(range(1, PARALLEL + 1))


@pytest.mark.django_db
def test_a_new_window_starts_from_zero_and_old_windows_are_cleared(rate_store: str) -> None:
    rate = Rate(2, 60)
    at = 1_699_999_980.0  # the start of a minute, long past
    assert [hit("k", rate, now=at + 1).allowed for _ in range(3)] == [True, True, False]
    blocked = hit("k", rate, now=at + 50)
    assert not blocked.allowed and blocked.retry_after_s == 10
    assert hit("k", rate, now=at + 61).allowed
    assert hit("other", rate, now=at + 61).allowed  # keys count apart
    if rate_store == "database":
        # Far later, the first hit of a window deletes the counters of windows long over.
        hit("k", rate, now=time.time())
        assert list(RateCounter.objects.values_list("count", flat=True)) == [1]


@pytest.mark.django_db
def test_over_the_limit_the_api_answers_429_with_retry_after(rate_store: str, team: Team, settings: Any) -> None:
    settings.EVOLAB_API_RATE_LIMIT = "3/hour"
    _wait_clear_of_window_end(3600)
    _, raw = token_create(user=team.viewer, name="script")
    _, other = token_create(user=team.viewer, name="another script")
    url = f"/api/v1/projects/{team.project.slug}"
    client = Client()
    statuses = [client.get(url, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get(url, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert body["message"].startswith("Too many requests: the limit is 3 requests per hour. Retry after ")
    assert body["details"] == {"limit": 3, "window_s": 3600, "retry_after_s": int(refused["Retry-After"])}
    # Another token of the same person has its own allowance; "off" lifts the limit.
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 200
    settings.EVOLAB_API_RATE_LIMIT = "off"
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


@pytest.mark.django_db
def test_a_bad_token_is_refused_before_it_is_counted(rate_store: str, team: Team, settings: Any) -> None:
    settings.EVOLAB_API_RATE_LIMIT = "1/hour"
    response = Client().get("/api/v1/projects", HTTP_AUTHORIZATION="Bearer evl_not-a-token")
    assert response.status_code == 401
    assert not RateCounter.objects.exists()


@pytest.mark.service
@pytest.mark.django_db(transaction=True)
def test_50_parallel_requests_to_a_real_server_let_at_most_10_through(
    rate_store: str, team: Team, served: Any
) -> None:
    """Two uvicorn worker processes, 50 requests of one token at once, a limit of 10."""
    env = {"EVOLAB_API_RATE_LIMIT": f"{LIMIT}/hour", "EVOLAB_API_RATE_STORE": "database"}
    if rate_store == "redis":
        env = {**env, "EVOLAB_API_RATE_STORE": "cache", "REDIS_URL": redis_url()}
    url = served(env)
    _, raw = token_create(user=team.viewer, name="load")
    _wait_clear_of_window_end(3600)
    start = threading.Barrier(PARALLEL)

    def one(_: int) -> tuple[int, dict[str, Any], str | None]:
        request = urllib.request.Request(
            f"{url}/api/v1/projects/{team.project.slug}", headers={"Authorization": f"Bearer {raw}"}
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read()), None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read()), error.headers.get("Retry-After")

    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(one, range(PARALLEL)))
    statuses = Counter(status for status, _, _ in outcomes)
    assert statuses == {200: LIMIT, 429: PARALLEL - LIMIT}, statuses
    for status, body, retry_after in outcomes:
        if status == 429:
            assert body["code"] == "rate_limited" and retry_after is not None and int(retry_after) > 0
        else:
            assert body["slug"] == team.project.slug
