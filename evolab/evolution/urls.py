from __future__ import annotations

from django.urls import path

from evolab.evolution import views

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
]
