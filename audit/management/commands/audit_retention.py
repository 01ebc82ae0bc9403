"""Apply audit retention now (the beat task does it daily): export the events older than
AUDIT_RETENTION_DAYS to AUDIT_EXPORT_DIR, checkpoint the chain and delete them. See
audit/retention.py."""

from django.core.management.base import BaseCommand, CommandError

from audit.retention import retention_apply


class Command(BaseCommand):
    help = ("Export audit events older than AUDIT_RETENTION_DAYS to AUDIT_EXPORT_DIR, write a "
            "chain checkpoint and delete them, in batches.")

    def handle(self, *args, **options):
        result = retention_apply()
        if result.refused:
            raise CommandError(result.summary())
        self.stdout.write(result.summary())
