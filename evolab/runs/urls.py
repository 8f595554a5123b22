from __future__ import annotations

from django.urls import path

from evolab.runs import views

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
]
