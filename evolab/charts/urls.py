from __future__ import annotations

from django.urls import path

from evolab.charts import compare_views, lineage_views, views

app_name = "charts"

urlpatterns = [
    path("p/<slug:slug>/charts/", views.project_overview, name="overview"),
    path("p/<slug:slug>/charts/cost/", views.cost_against_score, name="cost"),
    path("p/<slug:slug>/campaigns/<int:number>/chart/", views.campaign_progress, name="campaign"),
    path("p/<slug:slug>/runs/<int:number>/export.csv", views.run_export_csv, name="run_csv"),
    path("p/<slug:slug>/runs/<int:number>/export.json", views.run_export_json, name="run_json"),
    path("p/<slug:slug>/compare/", compare_views.compare_page, name="compare"),
    path("p/<slug:slug>/lineage/", lineage_views.lineage_page, name="lineage"),
]
