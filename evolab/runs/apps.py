from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "evolab.runs"
    label = "runs"
