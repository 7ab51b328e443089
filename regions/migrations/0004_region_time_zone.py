from django.db import migrations, models

TIME_ZONES = {
    "siberia": "Asia/Novosibirsk",
    "urals": "Asia/Yekaterinburg",
    "kaliningrad": "Europe/Kaliningrad",
    "krasnodar": "Europe/Moscow",
    "ingria": "Europe/Moscow",
}


def set_time_zones(apps, schema_editor):
    Region = apps.get_model("regions", "Region")
    for slug, time_zone in TIME_ZONES.items():
        Region.objects.filter(slug=slug).update(time_zone=time_zone)


class Migration(migrations.Migration):
    dependencies = [("regions", "0003_enrolmentlink")]

    operations = [
        migrations.AddField(
            model_name="region",
            name="time_zone",
            field=models.CharField(default="Europe/Moscow", max_length=64, verbose_name="time zone"),
        ),
        migrations.RunPython(set_time_zones, migrations.RunPython.noop),
    ]
