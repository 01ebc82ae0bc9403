"""Sign a digest of the audit chain now (the beat task does it every
AUDIT_DIGEST_INTERVAL_SECONDS). See audit/digests.py."""

from django.core.management.base import BaseCommand

from audit.digests import digest_create
from audit.tasks import digest_summary


class Command(BaseCommand):
    help = "Sign a digest over the audit events appended since the previous digest."

    def handle(self, *args, **options):
        self.stdout.write(digest_summary(digest_create()))
