from __future__ import annotations

from django.urls import path

from evolab.labeling import views

app_name = "labeling"

QUEUE = "p/<slug:slug>/labeling/<int:number>/"

urlpatterns = [
    path("p/<slug:slug>/labeling/", views.queue_list, name="list"),
    path("p/<slug:slug>/labeling/new/", views.queue_new, name="new"),
    path(QUEUE, views.queue_detail, name="queue"),
    path(QUEUE + "close/", views.queue_close, name="close"),
    path(QUEUE + "next/", views.queue_next, name="next"),
    path(QUEUE + "items/<int:position>/", views.item_label, name="item"),
]
