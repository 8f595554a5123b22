from __future__ import annotations

from django.urls import path

from evolab.evals import views

app_name = "evals"

urlpatterns = [
    path("p/<slug:slug>/suites/", views.suite_list, name="suites"),
    path("p/<slug:slug>/suites/<slug:suite_slug>/", views.suite_detail, name="suite"),
    # Keys may hold slashes ("HumanEval/0"), so the key is a path segment at the end.
    path("p/<slug:slug>/suites/<slug:suite_slug>/v/<int:number>/cases/<path:key>/", views.case_detail, name="case"),
    path("p/<slug:slug>/suites/<slug:suite_slug>/import/", views.suite_import, name="import"),
    path("p/<slug:slug>/suites/<slug:suite_slug>/export/", views.suite_export, name="export"),
]
