from __future__ import annotations

from django.urls import path

from evolab.runs import case_runs_views, curation_views, operations_views, views

app_name = "runs"

RUN = "p/<slug:slug>/runs/<int:number>/"

urlpatterns = [
    path("p/<slug:slug>/runs/", views.runs_page, name="list"),
    path("p/<slug:slug>/runs/new/", views.run_new, name="new"),
    path("p/<slug:slug>/runs/new/estimate/", views.run_estimate, name="estimate"),
    path(RUN, views.run_detail, name="run"),
    path(RUN + "progress/", views.run_progress, name="progress"),
    path(RUN + "results/<int:result_id>/", views.result_detail, name="result"),
    path(RUN + "cancel/", views.run_cancel, name="cancel"),
    path(RUN + "resume/", views.run_resume, name="resume"),
    # Curation: a result becomes a change request of its suite (kind: add, target, ambiguous).
    path(RUN + "results/<int:result_id>/curate/<str:kind>/", curation_views.result_curate, name="curate"),
    # Instance-wide operations (staff): workers, queue, chunks; retry a failed or stuck chunk.
    path("ops/", operations_views.operations_page, name="operations"),
    path("ops/chunks/<int:chunk_id>/retry/", operations_views.chunk_retry, name="chunk_retry"),
    # The case page's runs panel (evals:case loads it); the key may hold slashes, so it ends the path.
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/case-runs/<path:key>/",
        case_runs_views.case_runs_panel,
        name="case_runs",
    ),
]
