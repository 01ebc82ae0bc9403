"""Resetting an account between test runs (the service behind `manage.py kms_reset`).

Users' test pipelines seed an account, run against it, and reset it before the next run
(design.md, "Operational interface"). A reset deletes what the runs made (keys in every region,
with their aliases, tags and key material, and the account's audit events) and keeps what the
pipeline is configured with: the account, its users and their access keys.
"""

from django.conf import settings

from audit.chain import RESET_EVENT, redact_events
from audit.models import AuditEvent
from audit.recording import operation
from grants.models import AccessKey, Account
from grants.principals import Caller
from kmsconsole.errors import NotFoundError

from .models import Alias, Key, KeyMaterial, Tag


def account_reset(*, account_id: str) -> dict:
    """Delete an account's keys (all regions), aliases, tags, key material and audit events, in
    one transaction; keep the account, its users and their access keys. Returns the counts.

    An operator action from the command line, like account_create: whoever runs manage.py holds
    the database and the root key already, so there is no principal to authorize. Deleting the
    account's audit events is the point of a reset (a pipeline starts from an empty trail); the
    reset itself is then recorded, after the deletion and in the same transaction, as one
    ResetAccount service event carrying the counts, so the fresh trail shows that it was reset.
    Grants (a later issue) must hang off their key with CASCADE so that they go with it.
    """
    # An unknown account has no trail to record the refusal in.
    if not Account.objects.filter(pk=account_id).exists():
        raise NotFoundError(f"Account {account_id} does not exist.")
    caller = Caller.scheduler(account_id=account_id, region=settings.KMS_DEFAULT_REGION)
    with operation(caller, RESET_EVENT, read_only=False,
                   request_parameters={"accountId": account_id}) as op:
        # Lock the account: a concurrent seed of it waits instead of interleaving.
        account = Account.objects.select_for_update().get(pk=account_id)
        keys = Key.objects.filter(account=account)
        aliases = Alias.objects.filter(account=account)
        # Earlier ResetAccount events stay: each vouches for the redactions of its reset.
        events = (AuditEvent.objects.filter(recipient_account_id=account_id)
                  .exclude(event_name=RESET_EVENT))
        counts = {
            "keys": keys.count(),
            "aliases": aliases.count(),
            "tags": Tag.objects.filter(key__account=account).count(),
            "key_materials": KeyMaterial.objects.filter(key__account=account).count(),
            "audit_events": events.count(),
        }
        aliases.delete()  # all of them, also one that points at no key
        keys.delete()     # key material and tags go with their keys (CASCADE)
        redactions = redact_events(events, request_id=caller.request_id)
        events.delete()
        op.service_event_details = {"resetAccount": {
            "keysDeleted": counts["keys"], "aliasesDeleted": counts["aliases"],
            "tagsDeleted": counts["tags"], "keyMaterialsDeleted": counts["key_materials"],
            "auditEventsDeleted": counts["audit_events"], **redactions}}
        counts["users_kept"] = account.users.count()
        counts["access_keys_kept"] = AccessKey.objects.filter(user__account=account).count()
        return counts
