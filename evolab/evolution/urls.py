from __future__ import annotations

from django.urls import path

from evolab.evolution import history_views, inbox_views, proposal_views, rebase_views, review_views, views

app_name = "evolution"

CAMPAIGN = "p/<slug:slug>/campaigns/<int:number>/"

urlpatterns = [
    path("p/<slug:slug>/campaigns/", views.campaigns_page, name="list"),
    path("p/<slug:slug>/campaigns/new/", views.campaign_new, name="new"),
    path("p/<slug:slug>/campaigns/new/estimate/", views.campaign_estimate_panel, name="estimate"),
    path(CAMPAIGN, views.campaign_detail, name="campaign"),
    path(CAMPAIGN + "pause/", views.campaign_pause, name="pause"),
    path(CAMPAIGN + "resume/", views.campaign_resume, name="resume"),
    path(CAMPAIGN + "stop/", views.campaign_stop, name="stop"),
    path(CAMPAIGN + "guidance/", views.guidance_save, name="guidance"),
    path(CAMPAIGN + "proposals/new/", views.proposal_new, name="proposal_new"),
    path("p/<slug:slug>/policy/", views.policy_page, name="policy"),
    path("p/<slug:slug>/policy/path-owners/", views.path_owners, name="path_owners"),
    path("p/<slug:slug>/policy/path-owners/<int:owner_id>/remove/", views.path_owner_delete, name="path_owner_remove"),
    path("p/<slug:slug>/merged/", history_views.merged_history, name="history"),
    path("inbox/", inbox_views.inbox_page, name="inbox"),
    path("p/<slug:slug>/inbox/", inbox_views.project_inbox, name="project_inbox"),
    path("notifications/", inbox_views.notifications_page, name="notifications"),
    path("notifications/read/", inbox_views.notifications_read, name="notifications_read"),
    path("p/<slug:slug>/proposals/<int:number>/", proposal_views.proposal_detail, name="proposal"),
    path("p/<slug:slug>/proposals/<int:number>/rebase/", rebase_views.proposal_rebase_page, name="proposal_rebase"),
]

PROPOSAL = "p/<slug:slug>/proposals/<int:number>/"
urlpatterns += [
    path(PROPOSAL + "vote/", review_views.proposal_vote, name="proposal_vote"),
    path(PROPOSAL + "comments/", review_views.proposal_comment, name="proposal_comment"),
    path(
        PROPOSAL + "comments/<int:comment_id>/resolve/",
        review_views.proposal_comment_resolve,
        name="proposal_comment_resolve",
    ),
    path(PROPOSAL + "merge/", review_views.proposal_merge, name="proposal_merge"),
    path(PROPOSAL + "reject/", review_views.proposal_reject_view, name="proposal_reject"),
    path(PROPOSAL + "request-changes/", review_views.proposal_request_changes_view, name="proposal_request_changes"),
    path(PROPOSAL + "revert/", review_views.proposal_revert_view, name="proposal_revert"),
    path(PROPOSAL + "revise/", review_views.proposal_revise_page, name="proposal_revise"),
]
