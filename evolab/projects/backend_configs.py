"""Turn a stored Backend into the plain `BackendConfig` the backends package takes.

The API key is read from the worker's environment at call time, by the variable name
the backend stores; it is never written to the database or to logs.
"""

from __future__ import annotations

import os

from django.conf import settings

from evolab.backends.types import BackendConfig
from evolab.core.errors import ValidationFailed
from evolab.projects.models import Backend, BackendFamily


def key_variable_allowed(name: str) -> bool:
    """Only variables the operator set aside for model keys may be read for a backend."""
    prefix = settings.EVOLAB_BACKEND_KEY_PREFIX
    return name in settings.EVOLAB_BACKEND_KEY_VARS or bool(prefix and name.startswith(prefix))


def allowed_key_variables_text() -> str:
    names = ", ".join(settings.EVOLAB_BACKEND_KEY_VARS)
    prefix = settings.EVOLAB_BACKEND_KEY_PREFIX
    return f"{names}, or a name starting with {prefix}" if prefix else names


def backend_config(backend: Backend) -> BackendConfig:
    api_key = None
    if backend.api_key_env:
        if not key_variable_allowed(backend.api_key_env):
            # Checked again at use time: the operator's list may have changed since.
            raise ValidationFailed(
                f"{backend.api_key_env} is not a variable set aside for model keys ({allowed_key_variables_text()}).",
                field="api_key_env",
            )
        api_key = os.environ.get(backend.api_key_env)
        if not api_key:
            raise ValidationFailed(
                f"The environment variable {backend.api_key_env} is not set on this worker.", field="api_key_env"
            )
    return BackendConfig(
        name=backend.name,
        kind="simulator" if backend.is_simulated else "openai_compat",
        base_url=backend.base_url,
        model=backend.model,
        api_key=api_key,
        family="minimax" if backend.family == BackendFamily.MINIMAX else "generic",
        default_params=dict(backend.default_params),
        price_in_per_m=float(backend.price_in_per_m),
        price_out_per_m=float(backend.price_out_per_m),
        max_concurrency=backend.max_concurrency,
        total_timeout_s=backend.timeout_s,
        stream=backend.stream,
        reasoning_split=backend.reasoning_split,
        requests_per_minute=backend.requests_per_minute,
        tokens_per_minute=backend.tokens_per_minute,
    )
