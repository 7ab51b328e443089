# The ledger table: published ballots move here from ballots.Ballot (sealed ones, in position
# order); unsealed ones go to the inbox in random order. Chain, counts and exports are unchanged.

import django.db.models.deletion
import django.db.models.functions.text
import django.db.models.lookups
from django.db import migrations, models


def move_ballots(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in COPY_SQL:
            schema_editor.execute(sql)
        return
    Ballot = apps.get_model("ballots", "Ballot")
    LedgerEntry = apps.get_model("tallying", "LedgerEntry")
    InboxBallot = apps.get_model("ballots", "InboxBallot")
    CodeBatch = apps.get_model("ballots", "CodeBatch")
    LedgerEntry.objects.bulk_create(
        LedgerEntry(poll_id=b.poll_id, position=b.position, option_id=b.option_id, tracker_hash=b.tracker_hash,
                    prev_hash=b.prev_hash, entry_hash=b.entry_hash)
        for b in Ballot.objects.filter(position__isnull=False).order_by("poll_id", "position")
    )
    InboxBallot.objects.bulk_create(
        InboxBallot(id=b.id, poll_id=b.poll_id, option_id=b.option_id, tracker_hash=b.tracker_hash)
        for b in Ballot.objects.filter(position__isnull=True).order_by("id")
    )
    for batch in CodeBatch.objects.all():
        batch.used_published = batch.credentials.filter(used=True).count()
        batch.save(update_fields=["used_published"])


COPY_SQL = [
    "INSERT INTO tallying_ledgerentry (poll_id, position, option_id, tracker_hash, prev_hash, entry_hash)"
    " SELECT poll_id, position, option_id, tracker_hash, prev_hash, entry_hash FROM ballots_ballot"
    " WHERE position IS NOT NULL ORDER BY poll_id, position",
    "INSERT INTO ballots_inboxballot (id, poll_id, option_id, tracker_hash)"
    " SELECT id, poll_id, option_id, tracker_hash FROM ballots_ballot WHERE position IS NULL ORDER BY id",
    "UPDATE ballots_codebatch AS b SET used_published ="
    " (SELECT count(*) FROM ballots_credential AS c WHERE c.batch_id = b.id AND c.used)",
]


class Migration(migrations.Migration):

    dependencies = [
        ('ballots', '0006_inbox'),
        ('tallying', '0003_snapshot_one_final'),
    ]

    operations = [
        migrations.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveBigIntegerField()),
                ('tracker_hash', models.BinaryField(max_length=32, unique=True)),
                ('prev_hash', models.BinaryField(max_length=32)),
                ('entry_hash', models.BinaryField(max_length=32)),
                ('option', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ballots.option')),
                ('poll', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ballots.poll')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('poll', 'position'), name='ledger_position_unique'), models.CheckConstraint(condition=models.Q(('position__gte', 1)), name='ledger_position_positive'), models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('tracker_hash'), 32), name='ledger_tracker_hash_32_bytes'), models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('prev_hash'), 32), name='ledger_prev_hash_32_bytes'), models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('entry_hash'), 32), name='ledger_entry_hash_32_bytes')],
            },
        ),
        migrations.RunPython(move_ballots),
    ]
