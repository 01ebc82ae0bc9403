"""AuditEvent: one CloudTrail-shaped record per request (kms-spec.md section 7).

The record's fields are stored as columns (searchable) and JSON (requestParameters,
responseElements, userIdentity, resources), and `as_record()` rebuilds the CloudTrail record.
Events are append-only: only audit.record() creates them and nothing updates or deletes them.
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

    class Meta:
        ordering = ["-id"]

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
