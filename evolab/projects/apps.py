from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "evolab.projects"
    label = "projects"
