"""AuditEvent: one CloudTrail-shaped record per request (kms-spec.md section 7).

The record's fields are stored as columns (searchable) and JSON (requestParameters,
responseElements, userIdentity, resources), and `as_record()` rebuilds the CloudTrail record.
Events are append-only: only audit.record() creates them, nothing updates them, and only the
retention task deletes them (oldest first, after exporting them and writing an AuditCheckpoint).

Tamper evidence (audit/chain.py): every event carries a gapless `sequence`, the previous event's
hash and its own hash over its canonical form; AuditDigest rows sign the chain head at intervals.
"""

import uuid

from django.db import models


class AuditEvent(models.Model):
    """One request (API call, console action or scheduled event) and its outcome."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_time = models.DateTimeField(db_index=True)
    event_version = models.CharField(max_length=8, default="1.08")
    event_source = models.CharField(max_length=64, default="kms.amazonaws.com")
    event_name = models.CharField(max_length=64, db_index=True)
    event_type = models.CharField(max_length=32, default="AwsApiCall")
    aws_region = models.CharField(max_length=32)
    recipient_account_id = models.CharField(max_length=12, db_index=True)
    user_identity = models.JSONField()
    principal_arn = models.CharField(max_length=2048, blank=True, db_index=True)
    access_key_id = models.CharField(max_length=128, blank=True)
    source_ip_address = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=1024, blank=True)
    request_parameters = models.JSONField(null=True)
    response_elements = models.JSONField(null=True)
    additional_event_data = models.JSONField(null=True)
    service_event_details = models.JSONField(null=True)
    error_code = models.CharField(max_length=128, blank=True, db_index=True)
    error_message = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    read_only = models.BooleanField()
    resources = models.JSONField(default=list)
    # The key the event is about (first key resource), for the key's audit tab and search.
    key_id = models.CharField(max_length=64, blank=True, db_index=True)
    # Where the request came from: api, console or scheduler (only userAgent shows it in AWS).
    source = models.CharField(max_length=16)
    # userIdentity.userName (the IAM user, or the role of an assumed-role session), searchable.
    user_name = models.CharField(max_length=128, blank=True)
    # Lower-cased words of the record for the free-text filter (trigram-indexed on PostgreSQL).
    search_text = models.TextField(blank=True)

    # The hash chain: position (1, 2, 3, ... with no gaps), the previous event's hash ("" before
    # the first) and SHA-256 over prev_hash and this event's canonical form (audit/chain.py).
    sequence = models.BigIntegerField(unique=True, null=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-id"]
        # Newest-first keyset pages under each single filter (audit/search.py).
        indexes = [
            models.Index(fields=["recipient_account_id", "-id"], name="audit_account_id_desc"),
            models.Index(fields=["event_name", "-id"], name="audit_event_name_id"),
            models.Index(fields=["principal_arn", "-id"], name="audit_principal_id"),
            models.Index(fields=["user_name", "-id"], name="audit_user_name_id"),
            models.Index(fields=["key_id", "-id"], name="audit_key_id_id"),
            models.Index(fields=["access_key_id", "-id"], name="audit_access_key_id"),
            models.Index(fields=["error_code", "-id"], name="audit_error_code_id"),
            models.Index(fields=["source_ip_address", "-id"], name="audit_source_ip_id"),
            models.Index(fields=["read_only", "-id"], name="audit_read_only_id"),
        ]

    def __str__(self) -> str:
        return f"{self.event_time:%Y-%m-%dT%H:%M:%SZ} {self.event_name} {self.error_code or 'ok'}"

    def as_record(self) -> dict:
        """The event as a CloudTrail record (lowerCamelCase keys, optional members omitted)."""
        record = {
            "eventVersion": self.event_version,
            "userIdentity": self.user_identity,
            "eventTime": self.event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": self.event_source,
            "eventName": self.event_name,
            "awsRegion": self.aws_region,
            "sourceIPAddress": self.source_ip_address,
            "userAgent": self.user_agent,
            "requestParameters": self.request_parameters,
            "responseElements": self.response_elements,
            "requestID": self.request_id,
            "eventID": str(self.event_id),
            "readOnly": self.read_only,
            "resources": self.resources,
            "eventType": self.event_type,
            "managementEvent": True,
            "recipientAccountId": self.recipient_account_id,
            "eventCategory": "Management",
        }
        if self.error_code:
            record["errorCode"] = self.error_code
            record["errorMessage"] = self.error_message
        if self.additional_event_data is not None:
            record["additionalEventData"] = self.additional_event_data
        if self.service_event_details is not None:
            record["serviceEventDetails"] = self.service_event_details
        return record


class AuditChainHead(models.Model):
    """The one row that holds the chain's last sequence and hash. record() locks it
    (select_for_update) inside the writing transaction, so concurrent writers append one after
    another and the chain stays linear; the lock is held only from the event's INSERT to commit."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)


class AuditDigest(models.Model):
    """A signed statement of the chain head at a moment, like a CloudTrail digest file: it covers
    events first_sequence..last_sequence, names the previous digest, and is signed with the digest
    key from settings, so rewriting the whole chain after the fact is detectable too."""

    created_at = models.DateTimeField()
    first_sequence = models.BigIntegerField()
    last_sequence = models.BigIntegerField(unique=True)
    last_hash = models.CharField(max_length=64)
    previous_signature = models.CharField(max_length=128, blank=True)
    algorithm = models.CharField(max_length=32, default="HMAC-SHA256")
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["-last_sequence"]


class AuditCheckpoint(models.Model):
    """Where the chain starts after retention deleted older events: the last deleted event's
    sequence and hash (the next event's prev_hash), and the export file that holds them."""

    created_at = models.DateTimeField()
    sequence = models.BigIntegerField(unique=True)
    hash = models.CharField(max_length=64)
    event_count = models.BigIntegerField()
    export_file = models.CharField(max_length=1024)
    export_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-sequence"]


class AuditRedaction(models.Model):
    """An event an account reset removed (keys/reset.py, `manage.py kms_reset`): its place in
    the chain, without its content. The chain is one for the whole server, so a reset leaves
    holes between other accounts' events; these rows let verification step over each hole
    (prev_hash and hash link it to its neighbours). They are vouched for by the ResetAccount
    event of the same request, which is in the chain and records a SHA-256 over its rows."""

    sequence = models.BigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    request_id = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["sequence"]


class Alert(models.Model):
    """Suspicious activity found by a rule over the event stream (audit/alerts.py)."""

    rule = models.CharField(max_length=64, db_index=True)
    raised_at = models.DateTimeField(db_index=True)
    account_id = models.CharField(max_length=12, db_index=True)
    principal_arn = models.CharField(max_length=2048, blank=True)
    key_id = models.CharField(max_length=64, blank=True)
    message = models.TextField()
    # Sequences of the events that triggered the rule (they may outlive retention in exports).
    event_sequences = models.JSONField(default=list)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=2048, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]


class AlertScanState(models.Model):
    """How far the alert rules have read the event stream (one row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_sequence = models.BigIntegerField(default=0)
