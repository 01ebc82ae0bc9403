"""The one door's audit half: `operation()` wraps a service call, `record()` writes the event.

Every service body runs inside `with operation(caller, "EventName", ...) as op:`. On success the
event is written in the same transaction as the change it describes, so a change is never
committed without its event, nor an event without its change. On failure the transaction rolls
back (nothing half-done survives) and the failed request is recorded in a transaction of its own,
with errorCode and errorMessage, before the error propagates.

Each event is appended to the audit hash chain as it is written (audit/chain.py): record() is
the chain's only writer, so there is no way to store an event outside it.
"""

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from grants.principals import SOURCE_SCHEDULER, Caller
from keys.crypto.errors import RootKeyError
from kmsconsole.errors import (
    ROOT_KEY_MISMATCH_LOG,
    InternalError,
    KmsError,
    fault_for,
    recorded_error_code,
)

from .chain import chain_append
from .models import AuditEvent

log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "An internal error occurred."


@dataclass
class Operation:
    """What a service learns while it runs, for its audit event."""

    caller: Caller
    event_name: str
    read_only: bool
    request_parameters: dict | None
    event_source: str = "kms.amazonaws.com"
    resources: list[dict] = field(default_factory=list)
    response_elements: dict | None = None
    additional_event_data: dict | None = None
    service_event_details: dict | None = None
    key_id: str = ""
    # CloudTrail's eventType when it is neither AwsApiCall nor AwsServiceEvent (console
    # sign-in events are AwsConsoleSignIn), and what a failed request's record shows as
    # responseElements (ConsoleLogin records "Failure" there; API failures show nothing).
    event_type: str = ""
    error_response_elements: dict | None = None

    def add_key(self, key) -> None:
        """Name a key the request touched (CloudTrail `resources`)."""
        arn = key.arn
        if any(resource["ARN"] == arn for resource in self.resources):
            return
        self.resources.append({"accountId": key.account_id, "type": "AWS::KMS::Key", "ARN": arn})
        if not self.key_id:
            self.key_id = str(key.id)


# additionalEventData members naming the key material a request used (keys/operations.py).
KEY_MATERIAL_ID_FIELDS = frozenset({"keyMaterialId", "sourceKeyMaterialId",
                                    "destinationKeyMaterialId"})


def searchable_text(event: AuditEvent) -> str:
    """What the event history's free-text filter matches, lower-cased: the names, identities,
    addresses, errors, resources, request parameters and key material ids of the record.
    Lower-cased once here so the search is a plain substring match (LIKE), which PostgreSQL's
    trigram index answers."""
    words = [
        event.event_name, event.event_source, event.principal_arn, event.user_name,
        event.access_key_id, event.source_ip_address, event.user_agent, event.error_code,
        event.error_message, event.key_id, event.request_id,
        " ".join(resource.get("ARN", "") for resource in event.resources or []),
        json.dumps(event.request_parameters, sort_keys=True) if event.request_parameters else "",
        # The key material a request used: "which requests did this material serve?" Only
        # those ids: other additional data (a LookupEvents' own searchText) must not be found.
        *(str(value) for name, value in (event.additional_event_data or {}).items()
          if name in KEY_MATERIAL_ID_FIELDS),
    ]
    return " ".join(word for word in words if word).lower()


def user_name_of(user_identity: dict) -> str:
    """The user name the event history shows: the IAM user, or an assumed role's name."""
    if "userName" in user_identity:
        return user_identity["userName"]
    issuer = user_identity.get("sessionContext", {}).get("sessionIssuer", {})
    return issuer.get("userName", "")


def record(op: Operation, *, error: KmsError | None = None) -> AuditEvent:
    """Write the event for `op` (in the caller's transaction), appended to the hash chain. The
    only writer of AuditEvent."""
    caller = op.caller
    principal = caller.principal
    scheduled = caller.source == SOURCE_SCHEDULER
    user_identity = principal.user_identity()
    event = AuditEvent(
        event_time=timezone.now(),
        event_name=op.event_name,
        event_source=op.event_source,
        event_type=op.event_type or ("AwsServiceEvent" if scheduled else "AwsApiCall"),
        aws_region=caller.region,
        recipient_account_id=principal.account_id,
        user_identity=user_identity,
        user_name=user_name_of(user_identity),
        principal_arn="" if scheduled else principal.arn,
        access_key_id=principal.access_key_id or "",
        source_ip_address=caller.source_ip,
        user_agent=caller.user_agent[:1024],
        request_parameters=None if scheduled else op.request_parameters,
        response_elements=(None if scheduled
                           else op.error_response_elements if error else op.response_elements),
        additional_event_data=op.additional_event_data,
        service_event_details=op.service_event_details,
        error_code=recorded_error_code(op.event_source, error.code) if error else "",
        error_message=error.message if error else "",
        request_id=caller.request_id,
        read_only=op.read_only,
        resources=op.resources,
        key_id=op.key_id,
        source=caller.source,
    )
    event.search_text = searchable_text(event)
    # Sequence, prev_hash and hash, then the INSERT, under the chain head's lock (audit/chain.py).
    chain_append(event)
    return event


@contextmanager
def operation(caller: Caller, event_name: str, *, read_only: bool,
              request_parameters: dict | None = None, event_source: str = "kms.amazonaws.com"):
    """Run a service body: act and audit in one transaction; audit failures too."""
    op = Operation(caller, event_name, read_only, request_parameters, event_source)
    try:
        with transaction.atomic():
            yield op
            record(op)
    except KmsError as error:
        _record_failure(op, error)
        raise
    except RootKeyError:
        # A value wrapped under another root key than the configured one (ROOT_KEY_MISMATCH_LOG).
        log.error(ROOT_KEY_MISMATCH_LOG, f"A value {event_name} needed")
        fault = InternalError(INTERNAL_ERROR_MESSAGE)
        _record_failure(op, fault)
        raise fault from None
    except Exception as error:
        # A bug or a dependency failure: the request is still audited, without internals, with
        # the fault the API answers (fault_for), so the trail and the caller agree.
        log.exception("internal error in %s", event_name)
        _record_failure(op, fault_for(error))
        raise


def record_rejected(caller: Caller, event_name: str, error: KmsError) -> None:
    """Record a request refused before any service ran (authentication, protocol, shape)."""
    _record_failure(Operation(caller, event_name, read_only=False, request_parameters=None),
                    error)


def _record_failure(op: Operation, error: KmsError) -> None:
    try:
        with transaction.atomic():
            record(op, error=error)
    except Exception:
        # The database itself is failing; the caller still gets the original error.
        log.exception("could not record the failed %s request", op.event_name)
