from django.db import migrations

# The audit log is append-only in the database itself, whatever path tries to change it
# (admin, shell, a bug): UPDATE and DELETE raise. TRUNCATE stays possible for the database owner
# (the test suite flushes tables with it); docs/deployment.md runs the application under a role
# without that privilege.
FORWARD = """
CREATE FUNCTION ballots_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ballots_auditentry_no_update BEFORE UPDATE OR DELETE ON ballots_auditentry
  FOR EACH ROW EXECUTE FUNCTION ballots_audit_append_only();
"""
BACKWARD = """
DROP TRIGGER ballots_auditentry_no_update ON ballots_auditentry;
DROP FUNCTION ballots_audit_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("ballots", "0002_auditentry")]

    operations = [migrations.RunPython(forward, backward)]
