# A poll's definition (its id, region, question and answers in both languages) is signed into its
# ledger's genesis and every statement (docs/verification.md). Once the poll leaves draft, the
# database itself refuses to change it, whatever path tries (console, admin, shell, a bug):
# the poll's region and question, going back to draft, its answers (insert, update, delete),
# deleting the poll, and the slug of a region that has such a poll.
#
# The answer trigger reads the poll's state FOR SHARE: a concurrent transaction that moves the
# poll out of draft waits for it (or it re-reads the new state and refuses), so no answer slips
# in between. Errors use SQLSTATE 23514 (check_violation): Django raises IntegrityError.

from django.db import migrations

FORWARD = """
CREATE FUNCTION ballots_poll_definition_frozen() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.state <> 'draft' THEN
      RAISE EXCEPTION 'poll % has left draft: it cannot be deleted', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.state <> 'draft' AND (
       NEW.id <> OLD.id OR NEW.region_id <> OLD.region_id OR NEW.question_en <> OLD.question_en
       OR NEW.question_ru <> OLD.question_ru OR NEW.state = 'draft') THEN
    RAISE EXCEPTION 'poll % has left draft: its definition (region, question, answers) cannot change', OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ballots_poll_definition_frozen BEFORE UPDATE OR DELETE ON ballots_poll
  FOR EACH ROW EXECUTE FUNCTION ballots_poll_definition_frozen();

CREATE FUNCTION ballots_option_definition_frozen() RETURNS trigger AS $$
DECLARE
  poll_state text;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    SELECT state INTO poll_state FROM ballots_poll WHERE id = OLD.poll_id FOR SHARE;
    IF poll_state IS NOT NULL AND poll_state <> 'draft' THEN
      RAISE EXCEPTION 'poll % has left draft: its answers cannot change', OLD.poll_id
        USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    SELECT state INTO poll_state FROM ballots_poll WHERE id = NEW.poll_id FOR SHARE;
    IF poll_state IS NOT NULL AND poll_state <> 'draft' THEN
      RAISE EXCEPTION 'poll % has left draft: its answers cannot change', NEW.poll_id
        USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END IF;
  RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ballots_option_definition_frozen BEFORE INSERT OR UPDATE OR DELETE ON ballots_option
  FOR EACH ROW EXECUTE FUNCTION ballots_option_definition_frozen();

CREATE FUNCTION regions_slug_frozen() RETURNS trigger AS $$
BEGIN
  IF NEW.slug <> OLD.slug AND EXISTS (SELECT 1 FROM ballots_poll WHERE region_id = OLD.id AND state <> 'draft') THEN
    RAISE EXCEPTION 'region % has a poll that left draft: its slug is part of that poll''s definition', OLD.slug
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER regions_slug_frozen BEFORE UPDATE OF slug ON regions_region
  FOR EACH ROW EXECUTE FUNCTION regions_slug_frozen();
"""
BACKWARD = """
DROP TRIGGER regions_slug_frozen ON regions_region;
DROP FUNCTION regions_slug_frozen();
DROP TRIGGER ballots_option_definition_frozen ON ballots_option;
DROP FUNCTION ballots_option_definition_frozen();
DROP TRIGGER ballots_poll_definition_frozen ON ballots_poll;
DROP FUNCTION ballots_poll_definition_frozen();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("ballots", "0007_delete_ballot"), ("regions", "0002_organizer")]

    operations = [migrations.RunPython(forward, backward)]
