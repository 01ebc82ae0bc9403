"""KMS keys, their key material versions, aliases and tags.

Keys are partitioned like AWS: by account and region. A key id is a UUID; its ARN is
arn:aws:kms:<region>:<account>:key/<id>. Key material is a ring of versions that only grows
(rotation appends); each version is stored wrapped under the root key, never in the clear.
"""

import uuid

from django.db import models

from grants.models import Account

ENABLED = "Enabled"
DISABLED = "Disabled"
PENDING_DELETION = "PendingDeletion"
PENDING_IMPORT = "PendingImport"
KEY_STATES = [ENABLED, DISABLED, PENDING_DELETION, PENDING_IMPORT, "PendingReplicaDeletion",
              "Unavailable", "Creating", "Updating"]

ORIGIN_AWS_KMS = "AWS_KMS"
ORIGIN_EXTERNAL = "EXTERNAL"
ORIGINS = [ORIGIN_AWS_KMS, ORIGIN_EXTERNAL, "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"]

MANAGER_CUSTOMER = "CUSTOMER"
MANAGER_AWS = "AWS"


def choices(values):
    return [(value, value) for value in values]


class Key(models.Model):
    """A KMS key: metadata, state and policy; its secret material lives in KeyMaterial."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="keys")
    region = models.CharField(max_length=32)
    description = models.TextField(blank=True, default="")
    key_spec = models.CharField(max_length=32)
    key_usage = models.CharField(max_length=32)
    origin = models.CharField(max_length=32, choices=choices(ORIGINS), default=ORIGIN_AWS_KMS)
    key_manager = models.CharField(max_length=16, default=MANAGER_CUSTOMER)
    key_state = models.CharField(max_length=32, choices=choices(KEY_STATES), default=ENABLED)
    policy = models.TextField()
    created_at = models.DateTimeField()
    deletion_date = models.DateTimeField(null=True, blank=True)
    pending_window_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # The material version Encrypt uses; older versions stay to decrypt old ciphertexts.
    current_version = models.PositiveIntegerField(null=True, blank=True)
    rotation_enabled = models.BooleanField(default=False)
    rotation_period_days = models.PositiveSmallIntegerField(null=True, blank=True)
    next_rotation_date = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["account", "region", "created_at"])]

    def __str__(self) -> str:
        return str(self.id)

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account_id}:key/{self.id}"

    @property
    def enabled(self) -> bool:
        return self.key_state == ENABLED

    def current_material_id(self) -> str | None:
        if self.current_version is None:
            return None
        return (self.materials.filter(version=self.current_version)
                .values_list("material_id", flat=True).first())


class KeyMaterial(models.Model):
    """One version of a key's material, wrapped under the root key (AAD = key ARN + version)."""

    key = models.ForeignKey(Key, on_delete=models.CASCADE, related_name="materials")
    version = models.PositiveIntegerField()
    wrapped = models.BinaryField()
    # KeyMaterialId as AWS reports it: 64 lowercase hex, not derived from the material.
    material_id = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    rotation_type = models.CharField(max_length=16, blank=True)  # "", AUTOMATIC, ON_DEMAND
    # Imported material only (Origin EXTERNAL, kms-spec.md 2.8 and 4.4). After
    # DeleteImportedKeyMaterial or expiry the row stays with `wrapped` emptied: its material_id
    # and commitment let a re-import prove it is the same material (IncorrectKeyMaterial else).
    import_state = models.CharField(max_length=16, blank=True)  # "", IMPORTED, PENDING_IMPORT
    expiration_model = models.CharField(max_length=32, blank=True)  # "", KEY_MATERIAL_EXPIRES...
    valid_to = models.DateTimeField(null=True, blank=True)
    material_description = models.CharField(max_length=256, blank=True)
    # A keyed fingerprint of imported material (never the material itself), see keys/imports.py.
    material_commitment = models.BinaryField(default=b"", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="material_version_unique")
        ]
        indexes = [models.Index(fields=["valid_to"], name="material_valid_to_idx")]
        ordering = ["version"]


class ImportParameters(models.Model):
    """One GetParametersForImport answer: an RSA wrapping key pair and its import token.

    The private half is stored wrapped under the root key; the token is stored only as its
    SHA-256, so a database reader cannot replay it. Valid 24 hours (kms-spec.md 4.4).
    """

    key = models.ForeignKey(Key, on_delete=models.CASCADE, related_name="import_parameters")
    wrapping_key_spec = models.CharField(max_length=16)
    wrapping_algorithm = models.CharField(max_length=32)
    wrapped_private_key = models.BinaryField()
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    valid_to = models.DateTimeField()


class Alias(models.Model):
    """A friendly name for a key, unique per account and region; alias/aws/ ones are AWS's."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="aliases")
    region = models.CharField(max_length=32)
    name = models.CharField(max_length=256)
    target_key = models.ForeignKey(Key, on_delete=models.CASCADE, related_name="aliases", null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "region", "name"], name="alias_unique")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account_id}:{self.name}"


class Tag(models.Model):
    """A key's tag (key/value; at most 50 per key)."""

    key = models.ForeignKey(Key, on_delete=models.CASCADE, related_name="tags")
    tag_key = models.CharField(max_length=128)
    tag_value = models.CharField(max_length=256, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "tag_key"], name="tag_key_unique_per_key")
        ]
        ordering = ["tag_key"]


class KeyTablePreferences(models.Model):
    """One principal's Preferences for one key table (kms-spec.md 8.1: "persisted per user and
    re-applied"): page size, line wrapping and the visible columns, by column slug."""

    owner_arn = models.CharField(max_length=2048)
    table = models.CharField(max_length=32)
    page_size = models.PositiveSmallIntegerField()
    wrap_lines = models.BooleanField(default=False)
    visible_columns = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner_arn", "table"],
                                               name="key_table_preferences_unique")]
