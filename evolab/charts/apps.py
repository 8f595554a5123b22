from django.apps import AppConfig


class ChartsConfig(AppConfig):
    name = "evolab.charts"
    label = "charts"
