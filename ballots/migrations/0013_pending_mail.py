# A registration mail waiting to be sent, sealed to the offline recovery key (issue 18): a mail lost
# with Redis can be queued again. Its time is kept to the minute, no finer: a CHECK, so that it holds
# whoever writes the row (date_trunc on a timestamptz truncates in the session's time zone, which is
# the same minute in every zone with a whole-minute offset).

import uuid

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
ALTER TABLE ballots_pendingmail ADD CONSTRAINT pendingmail_queued_at_minute
  CHECK (queued_at = date_trunc('minute', queued_at));
"""
BACKWARD = "ALTER TABLE ballots_pendingmail DROP CONSTRAINT pendingmail_queued_at_minute;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('ballots', '0012_credential_used_once'),
    ]

    operations = [
        migrations.CreateModel(
            name='PendingMail',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('poll', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ballots.poll')),
                ('sealed', models.BinaryField()),
                ('queued_at', models.DateTimeField()),
            ],
        ),
        migrations.RunPython(forward, backward),
    ]
