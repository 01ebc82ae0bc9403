"""Apply a seed file: accounts, users, passwords, access keys, managed and inline policies,
roles, keys (with their key policies), aliases and tags.

The file format and the rules (idempotent, all or nothing, unknown keys are errors) are in
grants/seed/ and design.md ("Seed file format"). Prints one line per change; never a secret.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from grants.seed import SeedError, seed
from kmsconsole.errors import KmsError


class Command(BaseCommand):
    help = ("Apply a seed file (YAML or JSON): accounts, users, passwords, access keys, "
            "policies, roles, keys, key policies, aliases and tags. Idempotent; a file with any "
            "problem changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="the seed file, or - to read standard input")

    def handle(self, *args, file: str, **options):
        text = self._read(file)
        try:
            changes = seed(text)
        except SeedError as error:
            raise CommandError(f"{file}: nothing was applied:\n"
                               + "\n".join(f"  {problem}" for problem in error.problems)) from None
        except KmsError as error:
            # A service refused a step after the checks passed (e.g. a concurrent change).
            raise CommandError(f"{file}: nothing was applied: {error.code}: {error.message}") \
                from None
        for line in changes:
            self.stdout.write(line)
        if changes:
            self.stdout.write(self.style.SUCCESS(f"{file}: {len(changes)} change(s) applied."))
        else:
            self.stdout.write(f"{file}: nothing to change.")

    def _read(self, file: str) -> str:
        if file == "-":
            return sys.stdin.read()
        try:
            with open(file, encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"{file}: cannot read the seed file: {error}") from None
