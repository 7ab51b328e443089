# Each head records the genesis its chain began from. Heads that exist now began from 32 zero
# bytes (genesis version 1) and keep it: no ledger is rewritten. Heads created from now on begin
# from the hash of the poll's definition (version 2, docs/verification.md).
#
# In the database itself: a head's genesis never changes, and once a poll's final result is
# published nothing more is published for it (no ledger entry, no snapshot).

import django.db.models.functions.text
import django.db.models.lookups
from django.db import migrations, models

import tallying.models

FORWARD = """
CREATE FUNCTION tallying_genesis_fixed() RETURNS trigger AS $$
BEGIN
  IF NEW.genesis <> OLD.genesis THEN
    RAISE EXCEPTION 'the genesis of poll %''s chain cannot change', OLD.poll_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tallying_pollhead_genesis_fixed BEFORE UPDATE OF genesis ON tallying_pollhead
  FOR EACH ROW EXECUTE FUNCTION tallying_genesis_fixed();

CREATE FUNCTION tallying_snapshot_not_after_final() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM tallying_snapshot WHERE poll_id = NEW.poll_id AND is_final) THEN
    RAISE EXCEPTION 'poll % has a published final result: nothing more is published', NEW.poll_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tallying_snapshot_not_after_final BEFORE INSERT ON tallying_snapshot
  FOR EACH ROW EXECUTE FUNCTION tallying_snapshot_not_after_final();

-- Once per INSERT statement (a publication inserts thousands of entries in one).
CREATE FUNCTION tallying_ledger_not_after_final() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM (SELECT DISTINCT poll_id FROM new_entries) n
             JOIN tallying_snapshot s ON s.poll_id = n.poll_id AND s.is_final) THEN
    RAISE EXCEPTION 'the poll has a published final result: nothing more is published'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tallying_ledger_not_after_final AFTER INSERT ON tallying_ledgerentry
  REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION tallying_ledger_not_after_final();
"""
BACKWARD = """
DROP TRIGGER tallying_ledger_not_after_final ON tallying_ledgerentry;
DROP FUNCTION tallying_ledger_not_after_final();
DROP TRIGGER tallying_snapshot_not_after_final ON tallying_snapshot;
DROP FUNCTION tallying_snapshot_not_after_final();
DROP TRIGGER tallying_pollhead_genesis_fixed ON tallying_pollhead;
DROP FUNCTION tallying_genesis_fixed();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("tallying", "0004_ledgerentry")]

    operations = [
        # Existing heads get the default, 32 zero bytes: the genesis their chains began from.
        migrations.AddField(
            model_name="pollhead",
            name="genesis",
            field=models.BinaryField(default=tallying.models.genesis_hash, max_length=32),
        ),
        migrations.AddConstraint(
            model_name="pollhead",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length("genesis"), 32),
                name="pollhead_genesis_32_bytes",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
