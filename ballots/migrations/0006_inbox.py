# The inbox: accepted ballots wait here until a publication moves them to tallying's ledger.

import django.db.models.deletion
import django.db.models.functions.text
import django.db.models.lookups
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ballots', '0005_ballot_fewer_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='codebatch',
            name='used_published',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.CreateModel(
            name='InboxBallot',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('tracker_hash', models.BinaryField(max_length=32, unique=True)),
                ('option', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ballots.option')),
                ('poll', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='inbox', to='ballots.poll')),
            ],
        ),
        migrations.AddConstraint(
            model_name='inboxballot',
            constraint=models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('tracker_hash'), 32), name='inbox_tracker_hash_32_bytes'),
        ),
    ]
