from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "evolab.core"
    label = "core"
