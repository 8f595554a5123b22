from __future__ import annotations

from decimal import Decimal

import pytest

from evolab.core.models import AuditEvent
from evolab.projects.models import Backend
from tests.conftest import Team

FORM = {
    "name": "vllm",
    "kind": "openai_compat",
    "family": "generic",
    "base_url": "http://127.0.0.1:9000/v1",
    "model": "qwen",
    "api_key_env": "EVOLAB_KEY_VLLM",
    "default_params": '{"temperature": 0.7}',
    "max_concurrency": "4",
    "timeout_s": "60",
    "price_in_per_m": "0",
    "price_out_per_m": "0",
}


def test_the_m27_preset_prefills_the_published_defaults(team: Team) -> None:
    response = team.client_for("owner").get(f"/p/{team.project.slug}/backends/new/?preset=minimax-m2.7")
    form = response.context["form"]
    assert form.initial["base_url"] == "https://api.minimax.io/v1"
    assert form.initial["model"] == "MiniMax-M2.7"
    assert form.initial["api_key_env"] == "MINIMAX_API_KEY"
    assert form.initial["price_in_per_m"] == Decimal("0.30")
    assert form.initial["price_out_per_m"] == Decimal("1.20")
    assert '"top_k": 40' in form.initial["default_params"]


def test_owner_creates_a_backend(team: Team) -> None:
    response = team.client_for("owner").post(f"/p/{team.project.slug}/backends/new/", FORM)
    assert response.status_code == 302
    backend = Backend.objects.get(project=team.project, name="vllm")
    assert backend.default_params == {"temperature": 0.7}
    assert AuditEvent.objects.filter(action="backend.create", object_label="vllm").exists()


def test_it_refuses_an_api_key_in_place_of_its_variable_name(team: Team) -> None:
    response = team.client_for("owner").post(
        f"/p/{team.project.slug}/backends/new/", {**FORM, "api_key_env": "sk-live-abc123-def"}
    )
    assert response.status_code == 200
    assert "api_key_env" in response.context["form"].errors
    assert not Backend.objects.filter(project=team.project).exists()


def test_it_refuses_temperature_zero_for_minimax(team: Team) -> None:
    response = team.client_for("owner").post(
        f"/p/{team.project.slug}/backends/new/", {**FORM, "family": "minimax", "default_params": '{"temperature": 0}'}
    )
    assert response.status_code == 200
    assert "(0, 1]" in str(response.context["form"].errors)


def test_it_reports_broken_json_parameters(team: Team) -> None:
    response = team.client_for("owner").post(
        f"/p/{team.project.slug}/backends/new/", {**FORM, "default_params": "{oops"}
    )
    assert "default_params" in response.context["form"].errors


def test_simulated_backends_are_labelled(team: Team) -> None:
    from tests.factories import BackendFactory

    BackendFactory(project=team.project, name="sim", kind="simulator")
    response = team.client_for("viewer").get(f"/p/{team.project.slug}/backends/")
    assert b">simulated<" in response.content


def test_owner_edits_and_deletes_a_backend(team: Team) -> None:
    client = team.client_for("owner")
    client.post(f"/p/{team.project.slug}/backends/new/", FORM)
    backend = Backend.objects.get(name="vllm")
    assert (
        client.post(
            f"/p/{team.project.slug}/backends/{backend.pk}/edit/", {**FORM, "max_concurrency": "12"}
        ).status_code
        == 302
    )
    backend.refresh_from_db()
    assert backend.max_concurrency == 12
    assert client.post(f"/p/{team.project.slug}/backends/{backend.pk}/delete/").status_code == 302
    assert not Backend.objects.filter(pk=backend.pk).exists()
    assert list(AuditEvent.objects.filter(object_type="backend").values_list("action", flat=True).order_by("id")) == [
        "backend.create",
        "backend.update",
        "backend.delete",
    ]


def test_it_refuses_a_variable_not_set_aside_for_model_keys(team: Team) -> None:
    # Otherwise an owner could have a worker send SECRET_KEY or DATABASE_URL to any URL.
    for name in ("DATABASE_URL", "SECRET_KEY", "REDIS_URL"):
        response = team.client_for("owner").post(f"/p/{team.project.slug}/backends/new/", {**FORM, "api_key_env": name})
        assert "not a variable set aside for model keys" in str(response.context["form"].errors["api_key_env"])
    assert not Backend.objects.filter(project=team.project).exists()


def test_a_stored_backend_is_checked_again_when_used(team: Team, settings: object) -> None:
    from evolab.core.errors import ValidationFailed
    from evolab.projects.backend_configs import backend_config
    from tests.factories import BackendFactory

    backend = BackendFactory(project=team.project, api_key_env="MINIMAX_API_KEY")
    settings.EVOLAB_BACKEND_KEY_VARS = []  # type: ignore[attr-defined]
    settings.EVOLAB_BACKEND_KEY_PREFIX = ""  # type: ignore[attr-defined]
    with pytest.raises(ValidationFailed) as refused:
        backend_config(backend)
    assert refused.value.field == "api_key_env"
