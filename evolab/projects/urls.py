from __future__ import annotations

from django.urls import path

from evolab.projects import views

app_name = "projects"

urlpatterns = [
    path("p/", views.project_list, name="list"),
    path("p/<slug:slug>/settings/", views.project_settings, name="settings"),
    path("p/<slug:slug>/settings/members/add/", views.member_add, name="member_add"),
    path("p/<slug:slug>/settings/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("p/<slug:slug>/settings/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("p/<slug:slug>/backends/", views.backend_list, name="backends"),
    path("p/<slug:slug>/backends/new/", views.backend_new, name="backend_new"),
    path("p/<slug:slug>/backends/<int:backend_id>/", views.backend_detail, name="backend"),
    path("p/<slug:slug>/backends/<int:backend_id>/edit/", views.backend_edit, name="backend_edit"),
    path("p/<slug:slug>/backends/<int:backend_id>/probe/", views.backend_probe, name="backend_probe"),
    path("p/<slug:slug>/backends/<int:backend_id>/delete/", views.backend_delete, name="backend_delete"),
    path("p/<slug:slug>/audit/", views.audit_log, name="audit"),
    path("account/tokens/", views.token_list, name="tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]
