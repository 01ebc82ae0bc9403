"""Key rotation services: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
RotateKeyOnDemand and ListKeyRotations (kms-spec.md 2.6, 2.11, 3.3). Every function is one door.

Which keys rotate: customer managed symmetric encryption keys (SYMMETRIC_DEFAULT) whose material
KMS generated (origin AWS_KMS). Asymmetric and HMAC keys never rotate. Keys with imported
material (origin EXTERNAL) cannot have automatic rotation (AWS documents that), and AWS rotates
them on demand only into material the customer imported beforehand for that purpose (state
PENDING_ROTATION); this service has no such import flow, so RotateKeyOnDemand refuses EXTERNAL
keys with UnsupportedOperationException instead of inventing material the customer never held.
Their rotation status and material list can still be read (both report no rotation).

AWS managed keys rotate every 365 days and customers cannot change that: their key policy allows
the account only kms:Describe*, kms:Get* and kms:List*, so EnableKeyRotation, DisableKeyRotation
and RotateKeyOnDemand are refused with AccessDeniedException as AWS refuses them, and
GetKeyRotationStatus reports the yearly schedule.

Material rotates only through keys.materials.rotate_material, with the key row locked, in the
transaction that records the event; the scheduled sweep (keys/sweep.py) does the automatic half.
"""

import datetime

from django.utils import timezone

from audit.recording import operation
from grants.principals import Caller
from kmsconsole.errors import LimitExceededError, UnsupportedOperationError

from . import selectors, states, validation
from .access import locked, open_key
from .materials import rotate_material
from .models import MANAGER_CUSTOMER, ORIGIN_AWS_KMS, ORIGIN_EXTERNAL, PENDING_DELETION, Key

MIN_ROTATION_PERIOD_DAYS = 90
MAX_ROTATION_PERIOD_DAYS = 2560
DEFAULT_ROTATION_PERIOD_DAYS = 365
# AWS's API reference and the 2025 AWS recording in LocalStack's suite give 10 on-demand
# rotations per key for its whole life; a newer developer-guide page says 25. 10 is what a
# client meets today, so 10 it is (one constant, should AWS's answer change).
ON_DEMAND_ROTATION_LIMIT = 10
AUTOMATIC = "AUTOMATIC"
ON_DEMAND = "ON_DEMAND"
ROTATIONS_ONLY = "ROTATIONS_ONLY"
ALL_KEY_MATERIAL = "ALL_KEY_MATERIAL"


def _unsupported_spec(key: Key) -> UnsupportedOperationError:
    # Worded like AWS's documented origin refusal (kms-spec.md 3.3 [6]); exact text unverified.
    return UnsupportedOperationError(
        f"{key.arn} key spec is {key.key_spec} which is not valid for this operation.")


def _unsupported_origin(key: Key) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        f"{key.arn} origin is {key.origin} which is not valid for this operation.")


def _require_symmetric(key: Key) -> None:
    """Only symmetric encryption keys have a rotation status or rotations (AWS: reads too)."""
    if key.key_spec != "SYMMETRIC_DEFAULT":
        raise _unsupported_spec(key)
    if key.origin not in (ORIGIN_AWS_KMS, ORIGIN_EXTERNAL):
        raise _unsupported_origin(key)


def _require_rotatable(key: Key) -> None:
    """The checks of every rotation change, in AWS's order: the key must be able to rotate
    (spec, origin, manager), then its state must allow it (Disabled -> DisabledException,
    pending deletion -> KMSInvalidStateException; kms-spec.md 3.3)."""
    _require_symmetric(key)
    if key.origin != ORIGIN_AWS_KMS:
        raise _unsupported_origin(key)
    if key.key_manager != MANAGER_CUSTOMER:
        # Normally unreachable: an AWS managed key's policy refuses these actions first.
        raise UnsupportedOperationError(f"{key.arn} is an AWS managed key.")
    states.require_enabled(key)


def key_rotation_enable(*, caller: Caller, key_id: str,
                        rotation_period_days: int | None = None) -> Key:
    """EnableKeyRotation: rotate every `rotation_period_days` (90-2560, default 365).

    The first rotation is one period from now. Enabling again with another period changes the
    period and restarts the count from now; enabling again with the same period changes
    nothing, so a repeated call does not postpone a rotation that is due soon.
    """
    params = {"keyId": key_id}
    if rotation_period_days is not None:
        params["rotationPeriodInDays"] = rotation_period_days
    period = (DEFAULT_ROTATION_PERIOD_DAYS if rotation_period_days is None
              else rotation_period_days)
    with operation(caller, "EnableKeyRotation", read_only=False,
                   request_parameters=params) as op:
        key = locked(open_key(op, caller, key_id, "kms:EnableKeyRotation", allow_alias=False,
                              context={"kms:RotationPeriodInDays": period}))
        validation.require_range("rotationPeriodInDays", period, MIN_ROTATION_PERIOD_DAYS,
                                 MAX_ROTATION_PERIOD_DAYS)
        _require_rotatable(key)
        if key.rotation_enabled and key.rotation_period_days == period:
            return key
        key.rotation_enabled = True
        key.rotation_period_days = period
        key.next_rotation_date = timezone.now() + datetime.timedelta(days=period)
        key.save(update_fields=["rotation_enabled", "rotation_period_days",
                                "next_rotation_date"])
        return key


def key_rotation_disable(*, caller: Caller, key_id: str) -> Key:
    """DisableKeyRotation: no more automatic rotations (on-demand ones stay possible). The
    period is kept, so the console's Edit form offers it again."""
    with operation(caller, "DisableKeyRotation", read_only=False,
                   request_parameters={"keyId": key_id}) as op:
        key = locked(open_key(op, caller, key_id, "kms:DisableKeyRotation", allow_alias=False))
        _require_rotatable(key)
        key.rotation_enabled = False
        key.next_rotation_date = None
        key.save(update_fields=["rotation_enabled", "next_rotation_date"])
        return key


def rotation_status(key: Key) -> dict:
    """What GetKeyRotationStatus reports for `key` (service names, not AWS member names).

    `next_rotation_date` and `period_days` only while automatic rotation is on. A key pending
    deletion reports rotation off, as AWS does, while keeping its setting for a cancellation.
    `on_demand_start_date` is always None: AWS reports it while an on-demand rotation is in
    progress, and ours completes inside the RotateKeyOnDemand request.
    """
    enabled = key.rotation_enabled and key.key_state != PENDING_DELETION
    return {"enabled": enabled,
            "period_days": key.rotation_period_days if enabled else None,
            "next_rotation_date": key.next_rotation_date if enabled else None,
            "on_demand_start_date": None}


def key_rotation_status(*, caller: Caller, key_id: str) -> tuple[Key, dict]:
    """GetKeyRotationStatus: (key, rotation_status(key)); works in every key state."""
    with operation(caller, "GetKeyRotationStatus", read_only=True,
                   request_parameters={"keyId": key_id}) as op:
        key = open_key(op, caller, key_id, "kms:GetKeyRotationStatus", allow_alias=False)
        _require_symmetric(key)
        return key, rotation_status(key)


def on_demand_rotations_used(key: Key) -> int:
    return key.materials.filter(rotation_type=ON_DEMAND).count()


def key_rotate_on_demand(*, caller: Caller, key_id: str) -> Key:
    """RotateKeyOnDemand: new material now, at most ON_DEMAND_ROTATION_LIMIT times per key.

    The automatic schedule (next_rotation_date) is left as it is, as AWS documents. AWS answers
    ConflictException while a rotation is in progress; ours runs to completion in this request
    with the key row locked, so a second request waits for the lock and then sees the rotation
    done: there is never one in progress to conflict with.
    """
    with operation(caller, "RotateKeyOnDemand", read_only=False,
                   request_parameters={"keyId": key_id}) as op:
        key = locked(open_key(op, caller, key_id, "kms:RotateKeyOnDemand", allow_alias=False))
        _require_rotatable(key)
        if on_demand_rotations_used(key) >= ON_DEMAND_ROTATION_LIMIT:
            raise LimitExceededError(
                "The on-demand rotations limit has been reached for the given keyId. No more "
                f"on-demand rotations can be performed for this key: {key.arn}")
        rotate_material(key, rotation_type=ON_DEMAND)
        key.save(update_fields=["current_version"])
        op.response_elements = {"keyId": key.arn}
        return key


def key_rotations_list(*, caller: Caller, key_id: str, include_key_material: str | None = None,
                       limit: int = 100, marker: str | None = None):
    """ListKeyRotations: (key, materials, next_marker), oldest first as AWS lists them.

    ROTATIONS_ONLY (the default) lists the material each completed rotation made;
    ALL_KEY_MATERIAL adds the key's first material. Each row is a KeyMaterial.
    """
    params = {"keyId": key_id, "includeKeyMaterial": include_key_material, "limit": limit,
              "marker": marker}
    include = include_key_material or ROTATIONS_ONLY
    with operation(caller, "ListKeyRotations", read_only=True,
                   request_parameters={k: v for k, v in params.items() if v is not None}) as op:
        key = open_key(op, caller, key_id, "kms:ListKeyRotations", allow_alias=False)
        validation.require_enum("includeKeyMaterial", include, [ALL_KEY_MATERIAL,
                                                                ROTATIONS_ONLY])
        validation.require_range("limit", limit, 1, 1000)
        _require_symmetric(key)
        materials = key.materials.all()
        if include == ROTATIONS_ONLY:
            materials = materials.exclude(rotation_type="")
        rows, next_marker = selectors.paginate(
            materials, listing=f"rotations:{key.arn}:{include}", order_field="version",
            limit=limit, marker=marker)
        return key, rows, next_marker
