from django.apps import AppConfig


class HarnessesConfig(AppConfig):
    name = "evolab.harnesses"
    label = "harnesses"
