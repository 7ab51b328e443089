# Sealed ballots (issue 17): the inbox holds only ciphertext sealed to a per-poll publication key,
# and each poll names its current key in a column Django does not manage (only the rotation's SQL
# writes it, so no Poll.save() can put an older key back; see ballots/keys.py).

import django.db.models.deletion
import django.db.models.functions.text
import django.db.models.lookups
import uuid
from django.db import migrations, models


def refuse_waiting_ballots(apps, schema_editor):
    if apps.get_model("ballots", "InboxBallot").objects.exists():
        raise RuntimeError(
            "Ballots are waiting in the inbox in clear. Publish them first (close the polls and publish "
            "their final results, or lower PUBLISH_MIN_BALLOTS for one sealing run), then migrate."
        )


class Migration(migrations.Migration):

    dependencies = [
        ('ballots', '0010_audit_account_actions'),
    ]

    operations = [
        migrations.RunPython(refuse_waiting_ballots, migrations.RunPython.noop),
        migrations.DeleteModel(name='InboxBallot'),
        migrations.CreateModel(
            name='PublicationKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_key', models.BinaryField(max_length=32, unique=True)),
                ('recovery', models.BinaryField(null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('retired_at', models.DateTimeField(blank=True, null=True)),
                ('forgotten_at', models.DateTimeField(blank=True, null=True)),
                ('poll', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='publication_keys', to='ballots.poll')),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('public_key'), 32), name='publicationkey_32_bytes')],
            },
        ),
        migrations.CreateModel(
            name='InboxBallot',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('sealed', models.BinaryField(max_length=96)),
                ('key', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ballots.publicationkey')),
                ('poll', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='inbox', to='ballots.poll')),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('sealed'), 96), name='inbox_sealed_96_bytes')],
            },
        ),
        migrations.RunSQL(
            "ALTER TABLE ballots_poll ADD COLUMN publication_key_id bigint NULL"
            " REFERENCES ballots_publicationkey (id)",
            "ALTER TABLE ballots_poll DROP COLUMN publication_key_id",
        ),
    ]
