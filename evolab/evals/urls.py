from __future__ import annotations

from django.urls import path

from evolab.evals import case_views, change_request_views, views

app_name = "evals"

urlpatterns = [
    path("p/<slug:slug>/suites/", views.suite_list, name="suites"),
    path("p/<slug:slug>/suites/<slug:suite_slug>/", views.suite_detail, name="suite"),
    # Keys may hold slashes ("HumanEval/0"), so the key is a path segment at the end.
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/v/<int:number>/cases/<path:key>/", case_views.case_detail, name="case"
    ),
    # A case's discussion belongs to its key, not to a version (the form says which
    # version to return to); the action comes before the key for the same reason.
    path("p/<slug:slug>/suites/<slug:suite_slug>/comment/<path:key>/", case_views.case_comment, name="case_comment"),
    path("p/<slug:slug>/suites/<slug:suite_slug>/dispute/<path:key>/", case_views.case_dispute, name="case_dispute"),
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/resolve-dispute/<path:key>/",
        case_views.case_dispute_resolve,
        name="case_dispute_resolve",
    ),
    path("p/<slug:slug>/suites/<slug:suite_slug>/propose/<path:key>/", case_views.case_propose, name="case_propose"),
    path("p/<slug:slug>/suites/<slug:suite_slug>/import/", change_request_views.suite_import, name="import"),
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/import/<int:upload_id>/",
        change_request_views.import_preview_page,
        name="import_preview",
    ),
    path("p/<slug:slug>/suites/<slug:suite_slug>/policy/", change_request_views.suite_policy, name="suite_policy"),
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/changes/",
        change_request_views.change_request_list,
        name="change_requests",
    ),
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/changes/<int:number>/",
        change_request_views.change_request_detail,
        name="change_request",
    ),
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/changes/<int:number>/vote/",
        change_request_views.change_request_vote,
        name="change_request_vote",
    ),
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/changes/<int:number>/comment/",
        change_request_views.change_request_comment,
        name="change_request_comment",
    ),
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/changes/<int:number>/submit/",
        change_request_views.change_request_submit,
        name="change_request_submit",
    ),
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/changes/<int:number>/apply/",
        change_request_views.change_request_apply,
        name="change_request_apply",
    ),
    path(
        "p/<slug:slug>/suites/<slug:suite_slug>/changes/<int:number>/close/",
        change_request_views.change_request_close,
        name="change_request_close",
    ),
    path("p/<slug:slug>/suites/<slug:suite_slug>/export/", views.suite_export, name="export"),
]
