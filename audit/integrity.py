"""The console's "Validate integrity" action through the one door.

Named and authorized after AWS's own: `aws cloudtrail validate-logs` is what an AWS user runs to
prove a trail was not edited, and CloudTrail records no API call of its own for it (it reads
the digest and log files, which needs read access to the trail), so validating is authorized as
reading the trail, "cloudtrail:LookupEvents", and recorded as a read-only "ValidateLogs" event
from cloudtrail.amazonaws.com, after the command. The result (intact, or the first broken event)
goes into the event's additionalEventData, so the trail also shows what each validation found.
"""

from grants.authorization import authorize
from grants.principals import Caller

from .chain import ChainVerification, chain_verify
from .recording import operation

CLOUDTRAIL = "cloudtrail.amazonaws.com"
LOOKUP_ACTION = "cloudtrail:LookupEvents"


def integrity_validate(*, caller: Caller) -> ChainVerification:
    """Verify the audit chain and digests up to the head as it is now; AccessDeniedError
    unless the caller may read the trail. The ValidateLogs event itself is appended after the
    walk's end, so it is checked by the next validation, not this one."""
    with operation(caller, "ValidateLogs", read_only=True, event_source=CLOUDTRAIL,
                   request_parameters={}) as op:
        authorize(caller, LOOKUP_ACTION, resource_account_id=caller.account_id,
                  resource_arn=f"arn:aws:cloudtrail:{caller.region}:{caller.account_id}:trail/*")
        result = chain_verify()
        op.additional_event_data = _finding(result)
        return result


def _finding(result: ChainVerification) -> dict:
    finding = {"valid": result.ok, "eventsChecked": result.events_checked,
               "digestsChecked": result.digests_checked,
               "eventsRedacted": result.events_redacted}
    if result.broken:
        finding.update({"brokenSequence": result.broken.sequence,
                        "brokenEventId": result.broken.event_id,
                        "reason": result.broken.reason})
    return finding
