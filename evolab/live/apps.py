from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "evolab.live"
    label = "live"
