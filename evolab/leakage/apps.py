from django.apps import AppConfig


class LeakageConfig(AppConfig):
    name = "evolab.leakage"
    label = "leakage"
