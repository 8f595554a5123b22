from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from evolab import dashboard
from evolab.api import api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="projects:list", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("api/v1/", api.urls),
    path("p/<slug:slug>/", dashboard.project_dashboard, name="dashboard"),
    path("", include("evolab.projects.urls")),
    path("", include("evolab.harnesses.urls")),
    path("", include("evolab.evals.urls")),
    path("", include("evolab.runs.urls")),
    path("", include("evolab.evolution.urls")),
    path("", include("evolab.charts.urls")),
]
