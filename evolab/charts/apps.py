from django.apps import AppConfig


class ChartsConfig(AppConfig):
    name = "evolab.charts"
    label = "charts"

    def ready(self) -> None:
        # runs knows nothing of charts: charts asks to hear when a run completes, so that
        # the worker digests it before anyone opens the compare view.
        from evolab.charts.tasks import enqueue_digest
        from evolab.runs.completion import on_run_completed

        on_run_completed(enqueue_digest)
