from django.apps import AppConfig


class EvolutionConfig(AppConfig):
    name = "evolab.evolution"
    label = "evolution"
