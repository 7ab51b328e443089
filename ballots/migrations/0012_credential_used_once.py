# A used code never becomes unused again (issue 19): the web role must be able to mark a code used,
# and nothing may set it back, which would let a second ballot be cast with it. A trigger, so that
# it holds for every role; only the database owner can get around it, by disabling triggers, as
# for the append-only tables.

from django.db import migrations

FORWARD = """
CREATE FUNCTION ballots_credential_used_once() RETURNS trigger AS $$
BEGIN
  IF OLD.used AND NOT NEW.used THEN
    RAISE EXCEPTION 'credential %: a used code cannot become unused', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  IF OLD.used AND NEW.code_hash <> OLD.code_hash THEN
    RAISE EXCEPTION 'credential %: a used code cannot change', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ballots_credential_used_once BEFORE UPDATE ON ballots_credential
  FOR EACH ROW EXECUTE FUNCTION ballots_credential_used_once();
CREATE FUNCTION ballots_credential_no_delete_used() RETURNS trigger AS $$
BEGIN
  IF OLD.used THEN
    RAISE EXCEPTION 'credential %: a used code cannot be deleted', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ballots_credential_no_delete_used BEFORE DELETE ON ballots_credential
  FOR EACH ROW EXECUTE FUNCTION ballots_credential_no_delete_used();
"""

BACKWARD = """
DROP TRIGGER ballots_credential_no_delete_used ON ballots_credential;
DROP FUNCTION ballots_credential_no_delete_used();
DROP TRIGGER ballots_credential_used_once ON ballots_credential;
DROP FUNCTION ballots_credential_used_once();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('ballots', '0011_sealed_inbox'),
    ]

    operations = [migrations.RunPython(forward, backward)]
