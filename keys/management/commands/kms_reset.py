"""Reset an account between test runs: delete its keys, aliases, tags, key material and audit
events (every region; each removed event leaves a redaction so the audit chain still verifies);
keep the account, its users and access keys. See keys.reset.account_reset.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from keys.reset import account_reset
from kmsconsole.errors import KmsError


class Command(BaseCommand):
    help = ("Delete an account's keys, aliases, tags, key material and audit events (all "
            "regions); keep the account, its users and their access keys.")

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, metavar="ID", help="the account id")
        parser.add_argument("--yes", "--no-input", action="store_true", dest="yes",
                            help="do not ask for confirmation at a terminal")

    def handle(self, *args, account: str, yes: bool, **options):
        # Threat: an irreversible deletion started by a mistyped command at a terminal. Only a
        # person at a terminal is asked; a pipeline (no terminal) runs the documented
        # `kms_reset --account ID` as is: it said which account it means.
        if not yes and sys.stdin.isatty():
            self._confirm(account)
        try:
            counts = account_reset(account_id=account)
        except KmsError as error:
            raise CommandError(error.message) from None
        self.stdout.write(self.style.SUCCESS(
            f"Reset account {account}: deleted {counts['keys']} key(s), "
            f"{counts['aliases']} alias(es), {counts['tags']} tag(s), "
            f"{counts['key_materials']} key material version(s) and "
            f"{counts['audit_events']} audit event(s); kept {counts['users_kept']} user(s) and "
            f"{counts['access_keys_kept']} access key(s)."))

    def _confirm(self, account: str) -> None:
        answer = input(f"Delete every key, alias, tag, key material version and audit event of "
                       f"account {account}? Type the account id to confirm: ")
        if answer.strip() != account:
            raise CommandError("Not confirmed; nothing was deleted.")
