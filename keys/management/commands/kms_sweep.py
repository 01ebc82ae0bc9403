"""Run one scheduled sweep now (rotation, deletion; keys/sweep.py) and print what it did.

For operators who do not want to wait for the next beat tick. Exit status 0 when every due key
was processed, 1 when any key failed (each failure is in the audit trail as a failed service
event; the next sweep tries the key again).
"""

import sys

from django.core.management.base import BaseCommand

from keys.sweep import sweep

EXIT_FAILED = 1


class Command(BaseCommand):
    help = ("Run one rotation/deletion sweep now; exit status 1 if any key failed.")

    def handle(self, *args, **options):
        result = sweep()
        if not result.failed:
            self.stdout.write(self.style.SUCCESS(result.summary()))
            return
        self.stderr.write(self.style.ERROR(result.summary()))
        sys.exit(EXIT_FAILED)
