from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "evolab.labeling"
    label = "labeling"
