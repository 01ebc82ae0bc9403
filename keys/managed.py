"""AWS managed keys (alias/aws/<service>): created on first use, as AWS does.

A request that names `alias/aws/s3` in an account that has no such key yet gets one, made in the
same transaction as the request. The key belongs to AWS (KeyManager AWS: customers cannot change
it, disable it or delete it), its policy allows use only through the named service plus metadata
access for the account, and it rotates every year.
"""

import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from .crypto.material import generate_key_material
from .materials import add_material
from .models import MANAGER_AWS, Alias, Key
from .policies import jackson_dumps

AWS_ALIAS_PREFIX = "alias/aws/"
# The services that have AWS managed keys, with the name AWS uses in the key's description.
SERVICES = {
    "acm": "ACM", "backup": "Backup", "codecommit": "CodeCommit", "dynamodb": "DynamoDB",
    "ebs": "EBS volumes", "elasticfilesystem": "Amazon EFS", "es": "Elasticsearch",
    "glue": "Glue", "kinesis": "Kinesis data", "kinesisvideo": "Kinesis Video Streams",
    "lambda": "Lambda functions", "lightsail": "Lightsail", "rds": "RDS database",
    "redshift": "Redshift", "s3": "S3 objects", "secretsmanager": "Secrets Manager secrets",
    "sns": "SNS topics", "sqs": "SQS messages", "ssm": "SSM parameters", "xray": "X-Ray traces",
}
ROTATION_DAYS = 365


def managed_service(alias_name: str) -> str | None:
    """The service of an AWS managed alias name, or None if it names none."""
    if not alias_name.startswith(AWS_ALIAS_PREFIX):
        return None
    service = alias_name[len(AWS_ALIAS_PREFIX):]
    return service if service in SERVICES else None


def managed_key_policy(account_id: str, region: str, service: str) -> str:
    """The policy AWS gives its managed keys: use via the service, metadata for the account."""
    return jackson_dumps({
        "Version": "2012-10-17",
        "Id": f"auto-{service}-2",
        "Statement": [{
            "Sid": f"Allow access through {service.upper()} for all principals in the account "
                   f"that are authorized to use {service.upper()}",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {
                "kms:CallerAccount": account_id,
                "kms:ViaService": f"{service}.{region}.amazonaws.com"}},
        }, {
            "Sid": "Allow direct access to key metadata to the account",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
            "Resource": "*",
        }],
    })


def ensure_managed_key(*, account_id: str, region: str, alias_name: str) -> Key | None:
    """The AWS managed key behind `alias_name`, created now if it does not exist yet."""
    service = managed_service(alias_name)
    if service is None:
        return None
    now = timezone.now()
    try:
        with transaction.atomic():
            key = Key.objects.create(
                account_id=account_id, region=region, key_spec="SYMMETRIC_DEFAULT",
                key_usage="ENCRYPT_DECRYPT", key_manager=MANAGER_AWS, created_at=now,
                description=f"Default key that protects my {SERVICES[service]} when no other "
                            "key is defined",
                policy=managed_key_policy(account_id, region, service),
                rotation_enabled=True, rotation_period_days=ROTATION_DAYS,
                next_rotation_date=now + datetime.timedelta(days=ROTATION_DAYS),
            )
            add_material(key, version=1, material=generate_key_material("SYMMETRIC_DEFAULT"))
            key.save(update_fields=["current_version"])
            Alias.objects.create(account_id=account_id, region=region, name=alias_name,
                                 target_key=key, created_at=now, updated_at=now)
    except IntegrityError:
        # Another request created it first: use that one.
        return Alias.objects.get(account_id=account_id, region=region,
                                 name=alias_name).target_key
    return key
