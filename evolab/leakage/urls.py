from __future__ import annotations

from django.urls import path

from evolab.leakage import views

app_name = "leakage"

urlpatterns = [
    path("p/<slug:slug>/harness/v/<int:number>/leakage/", views.harness_version_leakage, name="harness_version"),
]
