"""The shop's periodic tasks, as rows that django-celery-beat's admin can edit.

Created here rather than in CELERY_BEAT_SCHEDULE because the DatabaseScheduler
rewrites entries from that setting every time beat starts, undoing edits made
in the admin.
"""

from django.db import migrations

SWEEP = "Resend unsent order confirmations"
SUMMARY = "Daily sales summary"


def create_periodic_tasks(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")

    every_five_minutes, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=SWEEP,
        defaults={
            "task": "shop.tasks.resend_pending_confirmations",
            "interval": every_five_minutes,
            "description": "Sends the confirmations that were not sent within a few minutes.",
        },
    )
    six_am, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="6", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=SUMMARY,
        defaults={
            "task": "shop.tasks.send_daily_sales_summary",
            "crontab": six_am,
            "description": "Emails yesterday's orders and revenue to the staff (MANAGERS).",
        },
    )


def delete_periodic_tasks(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[SWEEP, SUMMARY]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_periodic_tasks, delete_periodic_tasks)]
