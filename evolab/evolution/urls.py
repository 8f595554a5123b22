from __future__ import annotations

from django.urls import path

from evolab.evolution import inbox_views, proposal_views, rebase_views, views

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
    path("inbox/", inbox_views.inbox_page, name="inbox"),
    path("p/<slug:slug>/inbox/", inbox_views.project_inbox, name="project_inbox"),
    path("notifications/", inbox_views.notifications_page, name="notifications"),
    path("notifications/read/", inbox_views.notifications_read, name="notifications_read"),
    path("p/<slug:slug>/proposals/<int:number>/", proposal_views.proposal_detail, name="proposal"),
    path("p/<slug:slug>/proposals/<int:number>/rebase/", rebase_views.proposal_rebase_page, name="proposal_rebase"),
]
