"""Factories for test data; every app's tests build on these."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from evolab.projects.models import Backend, Membership, Project, Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("correct horse battery staple")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda p: p.slug.replace("-", " ").title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


class BackendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Backend

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"backend-{n}")
    kind = "simulator"
    family = "minimax"
    base_url = "http://127.0.0.1:8765/v1"
    model = "MiniMax-M2.7-sim"
