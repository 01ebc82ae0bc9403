"""Virtual MFA devices (TOTP, RFC 6238) of IAM users: IAM's CreateVirtualMFADevice,
EnableMFADevice, DeactivateMFADevice, DeleteVirtualMFADevice and ListMFADevices, one door each
(authorize -> act -> audit), and the code check console sign-in uses.

TOTP comes from `cryptography` (hazmat.primitives.twofactor.totp), the house crypto library, so no
second library holds the shared secret. Codes are 6 digits over 30-second steps with HMAC-SHA1:
what every authenticator app understands. The secret is 20 random bytes (RFC 4226's recommended
160 bits), shown once as base32 when the device is created (and as an otpauth:// URI for a QR
code) and stored only wrapped under the root key (MFADevice.set_secret).

As in IAM, a device created by CreateVirtualMFADevice guards nothing until EnableMFADevice proves
it with two consecutive codes: a user who scanned the wrong QR code cannot lock themselves out.
Each accepted code moves MFADevice.last_used_step forward, so a code is good for one use only
(threat: a code read over the shoulder or from a proxy log replayed within its 30 seconds).
"""

import base64
import hmac
import re
import secrets

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from django.utils import timezone

from audit.recording import operation
from kmsconsole.errors import (
    AlreadyExistsError,
    DeleteConflictError,
    KmsError,
    LimitExceededError,
    NoSuchEntityError,
    ValidationError,
)

from .authorization import authorize
from .models import MFADevice, User
from .principals import Caller
from .services import IAM

CODE_DIGITS = 6
TIME_STEP_SECONDS = 30
SECRET_BYTES = 20
# Clocks of phones drift: a code of the step before or after the server's is accepted too (the
# tolerance RFC 6238 section 6 recommends), never more.
DRIFT_STEPS = 1
CODE_PATTERN = re.compile(r"\d{6}")
DEVICE_NAME_PATTERN = re.compile(r"[\w+=,.@-]{1,226}")
DEVICE_NAME_RULE = ("The MFA device name can have up to 226 letters, digits and + = , . @ _ - "
                    "characters.")
CODE_RULE = "The authentication code is 6 digits."
INVALID_CODE_MESSAGE = "Authentication code for device is not valid."
ISSUER = "Key Management Service"


class InvalidAuthenticationCodeError(KmsError):
    """IAM's InvalidAuthenticationCode: the codes do not prove the device."""

    code = "InvalidAuthenticationCode"
    status = 403


# --- TOTP -------------------------------------------------------------------------------------

def new_totp_secret() -> str:
    """A fresh shared secret, base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def _totp(secret: str) -> TOTP:
    padded = secret + "=" * (-len(secret) % 8)
    return TOTP(base64.b32decode(padded), CODE_DIGITS, SHA1(), TIME_STEP_SECONDS)


def current_step() -> int:
    # Django's clock, so tests that move time (time-machine) move the TOTP steps with it.
    return int(timezone.now().timestamp()) // TIME_STEP_SECONDS


def totp_code(secret: str, step: int) -> str:
    """The code of `secret` for time step `step` (what an authenticator app shows then)."""
    return _totp(secret).generate(step * TIME_STEP_SECONDS).decode()


def _code_matches(secret: str, code: str, step: int) -> bool:
    # Constant-time: a timing difference must not tell how many leading digits were right.
    return hmac.compare_digest(totp_code(secret, step), code)


def matching_step(secret: str, code: str, *, after_step: int) -> int | None:
    """The time step `code` belongs to, within the allowed drift of now and later than
    `after_step` (the last step already used), or None."""
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        return None
    now = current_step()
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if step > after_step and _code_matches(secret, code, step):
            return step
    return None


def consecutive_step(secret: str, code_1: str, code_2: str) -> int | None:
    """The step of `code_1` when `code_2` is the very next step's code (EnableMFADevice's two
    consecutive codes), the second of them no further from now than the allowed drift."""
    if not all(isinstance(code, str) and CODE_PATTERN.fullmatch(code) for code in (code_1,
                                                                                  code_2)):
        return None
    now = current_step()
    for second in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if _code_matches(secret, code_2, second) and _code_matches(secret, code_1, second - 1):
            return second - 1
    return None


def otpauth_uri(device: MFADevice, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code (Key URI Format)."""
    user = device.user
    return _totp(secret).get_provisioning_uri(f"{user.name}@{user.account_id}", ISSUER)


def device_code_accepted(device: MFADevice, code: str) -> bool:
    """Whether `code` is a fresh code of the enabled `device`; if so it is used up.

    `device` must be locked (select_for_update) by the caller's transaction, so two sign-ins
    racing with the same code cannot both pass."""
    step = matching_step(device.secret(), code, after_step=device.last_used_step)
    if step is None:
        return False
    device.last_used_step = step
    device.save(update_fields=["last_used_step"])
    return True


# --- services -----------------------------------------------------------------------------------

def serial_number_for(user: User, device_name: str) -> str:
    return f"arn:aws:iam::{user.account_id}:mfa/{device_name}"


def mfa_device_list(*, caller: Caller, user: User) -> list[MFADevice]:
    """ListMFADevices: the MFA devices assigned to `user` (enabled ones, as in IAM: a device
    created but never enabled is not assigned to anyone yet)."""
    with operation(caller, "ListMFADevices", read_only=True, event_source=IAM,
                   request_parameters={"userName": user.name}):
        authorize(caller, "iam:ListMFADevices", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        return list(MFADevice.objects.filter(user=user, enabled=True))


def mfa_device_create(*, caller: Caller, user: User, device_name: str) -> tuple[MFADevice, str]:
    """CreateVirtualMFADevice: a new virtual MFA device for `user`, returned with its base32
    secret (shown once; the event never holds it).

    A user has one MFA device here (the model's one-to-one link): while one is enabled, a
    second is refused; one created earlier but never enabled is replaced, since it guards
    nothing and its secret was shown only on a page the user left."""
    with operation(caller, "CreateVirtualMFADevice", read_only=False, event_source=IAM,
                   request_parameters={"virtualMFADeviceName": device_name,
                                       "path": "/"}) as op:
        name_ok = isinstance(device_name, str) and DEVICE_NAME_PATTERN.fullmatch(device_name)
        serial = serial_number_for(user, device_name if name_ok else "")
        authorize(caller, "iam:CreateVirtualMFADevice", resource_arn=serial,
                  resource_account_id=user.account_id)
        if not name_ok:
            raise ValidationError(DEVICE_NAME_RULE)
        # Locks the user: two concurrent assignments must not both find no device.
        locked = User.objects.select_for_update().get(pk=user.pk)
        current = MFADevice.objects.filter(user=locked).first()
        if current is not None and current.enabled:
            raise LimitExceededError(
                f"User {user.name} already has an MFA device. Remove it before you assign "
                "another one.")
        if current is not None:
            current.delete()
        if MFADevice.objects.filter(serial_number=serial).exists():
            raise AlreadyExistsError("MFADevice entity at the same path and name already "
                                     "exists.")
        secret = new_totp_secret()
        device = MFADevice(user=locked, serial_number=serial)
        device.set_secret(secret)
        device.save()
        op.response_elements = {"virtualMFADevice": {"serialNumber": serial}}
        return device, secret


def mfa_device_enable(*, caller: Caller, user: User, authentication_code_1: str,
                      authentication_code_2: str) -> MFADevice:
    """EnableMFADevice: assign the user's new device once two consecutive codes prove that the
    user's app holds its secret. From then on, console sign-in asks for a code. The codes are
    one-time secrets and are not written to the event."""
    with operation(caller, "EnableMFADevice", read_only=False, event_source=IAM,
                   request_parameters={"userName": user.name}) as op:
        authorize(caller, "iam:EnableMFADevice", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        device = _locked_device(user)
        op.request_parameters["serialNumber"] = device.serial_number
        if device.enabled:
            raise AlreadyExistsError("MFA Device is already in use.")
        for code in (authentication_code_1, authentication_code_2):
            if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
                raise ValidationError(CODE_RULE)
        step = consecutive_step(device.secret(), authentication_code_1, authentication_code_2)
        if step is None:
            raise InvalidAuthenticationCodeError(INVALID_CODE_MESSAGE)
        device.enabled = True
        device.enabled_at = timezone.now()
        device.last_used_step = step + 1  # both codes are used up
        device.save(update_fields=["enabled", "enabled_at", "last_used_step"])
        return device


def mfa_device_deactivate(*, caller: Caller, user: User) -> MFADevice:
    """DeactivateMFADevice: the device stops guarding the user's sign-in (it still exists
    until DeleteVirtualMFADevice)."""
    with operation(caller, "DeactivateMFADevice", read_only=False, event_source=IAM,
                   request_parameters={"userName": user.name}) as op:
        authorize(caller, "iam:DeactivateMFADevice", resource_arn=user.arn,
                  resource_account_id=user.account_id)
        device = _locked_device(user)
        op.request_parameters["serialNumber"] = device.serial_number
        if not device.enabled:
            raise NoSuchEntityError(f"MFA device {device.serial_number} is not assigned to "
                                    f"user {user.name}.")
        device.enabled = False
        device.enabled_at = None
        device.save(update_fields=["enabled", "enabled_at"])
        return device


def mfa_device_delete(*, caller: Caller, user: User) -> None:
    """DeleteVirtualMFADevice: remove the user's device and its secret. As in IAM, an enabled
    device is deactivated first (DeleteConflict otherwise), so removing MFA is always two
    deliberate steps in the trail."""
    with operation(caller, "DeleteVirtualMFADevice", read_only=False, event_source=IAM,
                   request_parameters={"serialNumber": None}) as op:
        device = MFADevice.objects.filter(user=user).first()
        # Without a device, the ARN a console would have given it (named after the user).
        serial = device.serial_number if device else serial_number_for(user, user.name)
        op.request_parameters["serialNumber"] = serial
        authorize(caller, "iam:DeleteVirtualMFADevice", resource_arn=serial,
                  resource_account_id=user.account_id)
        device = _locked_device(user)
        if device.enabled:
            raise DeleteConflictError("MFA device is still in use. Deactivate it first.")
        device.delete()


def _locked_device(user: User) -> MFADevice:
    device = MFADevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        raise NoSuchEntityError(f"User {user.name} has no MFA device.")
    return device


def user_has_mfa(user: User) -> bool:
    """Whether console sign-in of `user` needs an MFA code (an enabled device)."""
    return MFADevice.objects.filter(user=user, enabled=True).exists()
