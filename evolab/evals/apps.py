from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "evolab.evals"
    label = "evals"
