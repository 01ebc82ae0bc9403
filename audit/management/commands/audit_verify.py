"""Walk the audit hash chain and its signed digests; exit status 0 only if they are intact.

Prints what was checked, or the first broken link: its sequence, the eventID of the event there
(for a deletion, of the first event after the gap) and why (edited, deleted, reordered or
inserted, digest forged or not matching). See audit/chain.py.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from audit.chain import chain_verify

EXIT_BROKEN = 1


class Command(BaseCommand):
    help = ("Verify the audit trail's hash chain and signed digests; exit status 0 only if "
            "intact, else 1 with the first broken event's sequence and eventID.")

    def add_arguments(self, parser):
        parser.add_argument("--from-sequence", type=int, metavar="N",
                            help="start at event N instead of the chain's start (its link to "
                                 "the event before N is then not checked)")

    def handle(self, *args, from_sequence: int | None = None, **options):
        if from_sequence is not None and from_sequence < 1:
            raise CommandError("--from-sequence must be 1 or more.")
        result = chain_verify(from_sequence=from_sequence)
        if result.ok:
            self.stdout.write(self.style.SUCCESS(result.summary()))
            return
        self.stderr.write(self.style.ERROR(result.summary()))
        sys.exit(EXIT_BROKEN)
