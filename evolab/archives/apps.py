from __future__ import annotations

from django.apps import AppConfig


class ArchivesConfig(AppConfig):
    name = "evolab.archives"
    label = "archives"
    verbose_name = "Project archives"
