from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from evolab import dashboard
from evolab.api import api
from evolab.core import health_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="projects:list", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("api/v1/", api.urls),
    # Answered by HealthCheckMiddleware before routing; routed too, so they resolve.
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
    path("p/<slug:slug>/", dashboard.project_dashboard, name="dashboard"),
    path("", include("evolab.projects.urls")),
    path("", include("evolab.harnesses.urls")),
    path("", include("evolab.evals.urls")),
    path("", include("evolab.runs.urls")),
    path("", include("evolab.evolution.urls")),
    path("", include("evolab.leakage.urls")),
    path("", include("evolab.labeling.urls")),
    path("", include("evolab.charts.urls")),
]
