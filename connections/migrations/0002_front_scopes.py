"""Install Front's scopes (reference/front-api.md section 2) with short descriptions."""

from __future__ import annotations

from django.db import migrations

FRONT_SCOPES = {
    "accounts:read": "Read accounts",
    "accounts:write": "Create and update accounts",
    "accounts:delete": "Delete accounts",
    "analytics:read": "Read analytics and exports",
    "attachments:read": "Download attachments",
    "channels:read": "Read channels",
    "channels:write": "Create and update channels",
    "comments:read": "Read comments",
    "comments:write": "Add comments",
    "contacts:read": "Read contacts",
    "contacts:write": "Create and update contacts",
    "contacts:delete": "Delete contacts",
    "conversations:read": "Read conversations",
    "conversations:write": "Update conversations",
    "conversations:delete": "Delete conversations",
    "custom_fields:read": "Read custom fields",
    "drafts:read": "Read drafts",
    "drafts:write": "Create and update drafts",
    "drafts:delete": "Delete drafts",
    "events:*:read": "Read events",
    "inboxes:read": "Read inboxes",
    "inboxes:write": "Create and update inboxes",
    "knowledge_bases:read": "Read knowledge bases",
    "knowledge_bases:write": "Create and update knowledge bases",
    "knowledge_bases:delete": "Delete knowledge bases",
    "links:read": "Read links",
    "links:write": "Create and update links",
    "message_templates:read": "Read message templates",
    "message_templates:write": "Create and update message templates",
    "message_templates:delete": "Delete message templates",
    "messages:read": "Read messages",
    "messages:write": "Import and update messages",
    "messages:send": "Send messages",
    "rules:read": "Read rules",
    "shifts:read": "Read shifts",
    "shifts:write": "Create and update shifts",
    "signatures:read": "Read signatures",
    "signatures:write": "Create and update signatures",
    "signatures:delete": "Delete signatures",
    "statuses:read": "Read conversation statuses",
    "tags:read": "Read tags",
    "tags:write": "Create and update tags",
    "tags:delete": "Delete tags",
    "teammate_groups:read": "Read teammate groups",
    "teammate_groups:write": "Create and update teammate groups",
    "teammate_groups:delete": "Delete teammate groups",
    "teammates:read": "Read teammates",
    "teammates:write": "Update teammates",
    "teams:read": "Read teams",
    "teams:write": "Update teams",
    "time_off:read": "Read time off",
    "time_off:write": "Create and update time off",
    "time_off:delete": "Delete time off",
    "views:read": "Read views",
    "views:write": "Create and update views",
    "feature:app_trigger": "Application triggers",
    "feature:mcp": "Front's MCP server",
}


def install(apps, schema_editor):
    Scope = apps.get_model("connections", "Scope")
    for code, description in FRONT_SCOPES.items():
        Scope.objects.update_or_create(code=code, defaults={"description": description})


def uninstall(apps, schema_editor):
    Scope = apps.get_model("connections", "Scope")
    Scope.objects.filter(code__in=FRONT_SCOPES, connection__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("connections", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
