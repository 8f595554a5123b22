from __future__ import annotations

from django.urls import path

from evolab.harnesses import views

app_name = "harnesses"

urlpatterns = [
    path("p/<slug:slug>/harness/", views.history, name="history"),
    path("p/<slug:slug>/harness/new/", views.version_new, name="new"),
    path("p/<slug:slug>/harness/upload/", views.version_upload, name="upload"),
    path("p/<slug:slug>/harness/diff/", views.diff, name="diff"),
    path("p/<slug:slug>/harness/v/<int:number>/", views.version_detail, name="version"),
    path("p/<slug:slug>/harness/v/<int:number>/revert/", views.version_revert, name="revert"),
]
