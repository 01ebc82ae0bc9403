"""Seed the benchmark database: one account, one IAM user with an access key, one symmetric key.

Run by bench/api_throughput.py in a subprocess with DJANGO_SETTINGS_MODULE, DATABASE_URL and
KMS_ROOT_KEY set for the run; prints one line of JSON (account, access key id and secret, key id)
on stdout. Everything goes through the same services the console and the API use, so the seeded
rows are exactly what a real deployment would hold (material and secret wrapped under the root
key, CreateAccount/CreateUser/CreateKey audit events written).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402

from grants.builtin_policies import builtin_policy_arn  # noqa: E402
from grants.principals import Caller, Principal  # noqa: E402
from grants.services import (  # noqa: E402
    access_key_create,
    account_create,
    policy_attach_user,
    user_create,
)
from keys.services import key_create  # noqa: E402

ACCOUNT_ID = "111122223333"
USER_NAME = "bench"


def main() -> None:
    region = settings.KMS_DEFAULT_REGION
    with transaction.atomic():
        account = account_create(account_id=ACCOUNT_ID, alias="bench")
        operator = Caller.scheduler(account_id=account.id, region=region)
        user = user_create(caller=operator, name=USER_NAME)
        # As `make run`'s first administrator: the key's default policy delegates to the
        # account, so every request is decided by the key policy AND the user's IAM policy.
        policy_attach_user(caller=operator, user=user,
                           policy_arn=builtin_policy_arn("AdministratorAccess"))
        access_key, secret = access_key_create(caller=operator, user=user)
        caller = Caller(principal=Principal.for_user(user, access_key_id=access_key.access_key_id),
                        region=region, user_agent="kmsconsole-bench-seed")
        key = key_create(caller=caller, description="api_throughput benchmark key")
    print(json.dumps({"account_id": account.id, "region": region,
                      "access_key_id": access_key.access_key_id, "secret_access_key": secret,
                      "key_id": str(key.id), "key_arn": key.arn}))


if __name__ == "__main__":
    main()
