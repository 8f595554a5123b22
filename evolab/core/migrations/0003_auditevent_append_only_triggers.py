"""Audit events are append-only in the database too, not only in the ORM.

The ORM refuses to change or delete an AuditEvent (evolab.core.models); these triggers
also stop raw SQL and any code path that bypasses the model. The one change allowed is
the one Django makes by itself: when a user is deleted, `actor` is set to NULL (the
event keeps `actor_label`, so the record still says who acted).

PostgreSQL: row triggers refuse UPDATE and DELETE. `TRUNCATE` fires no row trigger, so
Django's test flush (TRUNCATE) keeps working; truncating needs table ownership anyway.
SQLite: a trigger refuses UPDATE. DELETE stays refused by the ORM only, because SQLite's
flush (TransactionTestCase, `manage.py flush`) deletes row by row and would fire a delete
trigger, and SQLite has no session setting a trigger could consult to let flush through.
Whoever can write the embedded database file could drop a trigger in any case.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION core_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;  -- the actor's user was deleted (on_delete=SET_NULL)
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER core_auditevent_append_only
    BEFORE UPDATE OR DELETE ON core_auditevent
    FOR EACH ROW EXECUTE FUNCTION core_auditevent_append_only();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent;
DROP FUNCTION IF EXISTS core_auditevent_append_only();
"""
_UNCHANGED = " AND ".join(
    f"NEW.{column} IS OLD.{column}"
    for column in (
        "id",
        "project_id",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_label",
        "before",
        "after",
        "created_at",
    )
)
SQLITE_FORWARD = f"""
CREATE TRIGGER core_auditevent_no_update BEFORE UPDATE ON core_auditevent
WHEN NOT (OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL AND {_UNCHANGED})
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)');
END;
"""
SQLITE_REVERSE = "DROP TRIGGER IF EXISTS core_auditevent_no_update;"


def _run(schema_editor: Any, sql_by_vendor: dict[str, str]) -> None:
    sql = sql_by_vendor.get(schema_editor.connection.vendor)
    if sql is not None:
        # params=None: the SQL is sent as written (its % signs are not placeholders).
        schema_editor.execute(sql.strip(), params=None)


def forward(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD})


def reverse(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"postgresql": PG_REVERSE, "sqlite": SQLITE_REVERSE})


class Migration(migrations.Migration):
    dependencies = [("core", "0002_rate_counter")]

    operations = [migrations.RunPython(forward, reverse)]
