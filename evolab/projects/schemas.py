from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import Field


class ProjectIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    slug: str = Field(default="", max_length=50)
    description: str = ""


class ProjectOut(Schema):
    slug: str
    name: str
    description: str
    role: str
    created_at: datetime


class MemberIn(Schema):
    username: str
    role: str = Field(pattern="^(owner|maintainer|reviewer|viewer)$")


class MemberRoleIn(Schema):
    role: str = Field(pattern="^(owner|maintainer|reviewer|viewer)$")


class MemberOut(Schema):
    username: str
    role: str
    created_at: datetime


class BackendIn(Schema):
    name: str = Field(min_length=1, max_length=64)
    kind: str = Field(pattern="^(openai_compat|simulator)$")
    family: str = Field(default="generic", pattern="^(generic|minimax)$")
    base_url: str = Field(min_length=1, max_length=300)
    model: str = Field(min_length=1, max_length=128)
    api_key_env: str = Field(default="", max_length=128)
    default_params: dict[str, Any] = {}
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    timeout_s: float = Field(default=120, ge=1)
    stream: bool = False
    reasoning_split: bool = False
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    price_in_per_m: Decimal = Field(default=Decimal(0), ge=0, max_digits=10, decimal_places=4)
    price_out_per_m: Decimal = Field(default=Decimal(0), ge=0, max_digits=10, decimal_places=4)


class BackendOut(Schema):
    id: int
    name: str
    kind: str
    family: str
    simulated: bool
    base_url: str
    model: str
    api_key_env: str
    default_params: dict[str, Any]
    max_concurrency: int
    timeout_s: float
    stream: bool
    reasoning_split: bool
    requests_per_minute: int | None
    tokens_per_minute: int | None
    price_in_per_m: Decimal
    price_out_per_m: Decimal
