# Sealed ballots now live in tallying's ledger and waiting ones in the inbox (tallying 0004
# copied them); the old table goes, and with it every dead row version it kept.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('ballots', '0006_inbox'),
        ('tallying', '0004_ledgerentry'),
    ]

    operations = [
        migrations.DeleteModel(name='Ballot'),
    ]
