"""Make the root key ready; create a first account and administrator if there is none.

`make run` calls this on every start; it does nothing once any account exists, so the password
is printed exactly once, on the first run.

Authorization evaluates policies for real, and a user with no policy may do nothing; so the first
administrator gets the built-in AdministratorAccess policy, attached through the one door as KMS
acting for the account (audited as AttachUserPolicy), in the same transaction as its creation.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from grants.builtin_policies import builtin_policy_arn
from grants.models import Account, new_account_id
from grants.principals import Caller
from grants.services import account_create, generate_password, policy_attach_user, user_create
from keys.vault import root_key


class Command(BaseCommand):
    help = "Create the first account and administrator if no account exists."

    def handle(self, *args, **options):
        # Load (in development: create, mode 0600) the root key now, so a missing or unsafe
        # root key stops the start-up instead of the first request.
        root = root_key()
        self.stdout.write(f"Root key ready (fingerprint {root.fingerprint}).")
        if Account.objects.exists():
            return
        password = generate_password()
        with transaction.atomic():
            account = account_create(account_id=new_account_id(), alias="admin")
            caller = Caller.scheduler(account_id=account.id, region="us-east-1")
            admin = user_create(caller=caller, name="admin", password=password)
            policy_attach_user(caller=caller, user=admin,
                               policy_arn=builtin_policy_arn("AdministratorAccess"))
        self.stdout.write(self.style.SUCCESS(
            "\nCreated the first account and its administrator. Sign in with:\n"
            f"  Account ID or alias: {account.id} (alias: {account.alias})\n"
            f"  IAM user name:       admin\n"
            f"  Password:            {password}\n"
            "This password is shown only once.\n"))
