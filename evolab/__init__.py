"""evolab. Kept empty on purpose: `evolab.engine` and `evolab.backends` must import
without pulling in Django or Celery. The Celery app is loaded by `evolab.core` at
Django start-up (see CoreConfig.ready)."""
