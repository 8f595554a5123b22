from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "evolab.core"
    label = "core"

    def ready(self) -> None:
        # Load the Celery app with Django, so tasks defined with @shared_task bind to it.
        import evolab.celery  # noqa: F401
