from __future__ import annotations

from tests.runs.conftest import lab  # noqa: F401  (the runs lab: a project, a simulator backend, a demo suite)
