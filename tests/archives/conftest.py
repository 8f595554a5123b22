from tests.evolution.conftest import evo  # noqa: F401  (a project with a campaign's worth of data)
