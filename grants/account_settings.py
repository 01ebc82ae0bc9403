"""Account settings: the account alias and the password policy (IAM's CreateAccountAlias,
DeleteAccountAlias, ListAccountAliases, UpdateAccountPasswordPolicy, GetAccountPasswordPolicy,
DeleteAccountPasswordPolicy), one door each, and the password rules that
grants.services.validate_console_password applies.

The alias follows IAM's rules: 3-63 lowercase letters, digits and hyphens, starting and ending
with a letter or digit, no two hyphens in a row, unique among all accounts of this server (IAM:
globally unique). An account has at most one: creating another replaces it, as the IAM console's
Edit does. It is usable at sign-in in place of the account id (grants.selectors.signin_candidate).
An alias of twelve digits is refused. Threat: an alias equal to another account's id would make
sign-in (account id or alias) ambiguous.

The password policy follows IAM's ranges (minimum length 6-128, maximum age 1-1095 days, reuse
prevention 1-24 passwords). Without one, IAM's default applies: at least 8 characters and three
of the four kinds (uppercase, lowercase, digits, symbols). "Symbol" is any character that is not
a letter or a digit, as the console's caption says ("non-alphanumeric character"), so a
passphrase's spaces count. Every policy also refuses the user's own name as password. Django's
own validators (settings.AUTH_PASSWORD_VALIDATORS) apply on top, in validate_console_password.
"""

import re
from dataclasses import dataclass

from django.contrib.auth.hashers import check_password
from django.db import IntegrityError, transaction

from audit.recording import operation
from kmsconsole.errors import AlreadyExistsError, NoSuchEntityError, ValidationError

from .authorization import authorize
from .models import Account, PasswordHistory, PasswordPolicy, User
from .principals import Caller

# IAM's CloudTrail eventSource, as grants.services.IAM (which imports this module for the
# password rules, so this module cannot import it back).
IAM = "iam.amazonaws.com"

ALIAS_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]")
ALIAS_RULE = ("The account alias must be 3 to 63 characters: lowercase letters, digits and "
              "hyphens, starting and ending with a letter or digit, without two hyphens in a "
              "row.")
ALIAS_DIGITS_RULE = "The account alias cannot be a 12-digit number: it would look like an " \
                    "account ID at sign-in."

MIN_PASSWORD_LENGTH_RANGE = (6, 128)
MAX_PASSWORD_AGE_RANGE = (1, 1095)
PASSWORD_REUSE_RANGE = (1, 24)
KEPT_PASSWORD_HISTORY = PASSWORD_REUSE_RANGE[1]  # the most any policy can ask to remember


# --- account alias ------------------------------------------------------------------------------

def account_alias_list(*, caller: Caller) -> list[str]:
    """ListAccountAliases: the caller's account alias, if it has one (IAM returns a list)."""
    with operation(caller, "ListAccountAliases", read_only=True, event_source=IAM,
                   request_parameters=None):
        authorize(caller, "iam:ListAccountAliases", resource_account_id=caller.account_id)
        alias = Account.objects.filter(pk=caller.account_id).values_list("alias", flat=True)
        return [name for name in alias if name]


def account_alias_create(*, caller: Caller, alias: str) -> Account:
    """CreateAccountAlias: give the caller's account `alias`, replacing the one it had."""
    with operation(caller, "CreateAccountAlias", read_only=False, event_source=IAM,
                   request_parameters={"accountAlias": alias}):
        authorize(caller, "iam:CreateAccountAlias", resource_account_id=caller.account_id)
        _check_alias(alias)
        account = Account.objects.select_for_update().get(pk=caller.account_id)
        if account.alias == alias:
            return account
        taken = AlreadyExistsError(f"The account alias {alias} already exists.")
        if Account.objects.filter(alias=alias).exists():
            raise taken
        account.alias = alias
        try:
            with transaction.atomic():
                account.save(update_fields=["alias"])
        except IntegrityError:
            raise taken from None  # another account took it at the same moment
        return account


def account_alias_delete(*, caller: Caller, alias: str) -> None:
    """DeleteAccountAlias: remove `alias` (it must be the account's alias). Sign-in then
    needs the account id."""
    with operation(caller, "DeleteAccountAlias", read_only=False, event_source=IAM,
                   request_parameters={"accountAlias": alias}):
        authorize(caller, "iam:DeleteAccountAlias", resource_account_id=caller.account_id)
        updated = Account.objects.filter(pk=caller.account_id, alias=alias).update(alias=None)
        if not updated:
            raise NoSuchEntityError(f"The account alias {alias} cannot be found.")


def _check_alias(alias) -> None:
    if not isinstance(alias, str) or not ALIAS_PATTERN.fullmatch(alias):
        raise ValidationError(ALIAS_RULE)
    if len(alias) == 12 and alias.isdigit():
        raise ValidationError(ALIAS_DIGITS_RULE)


# --- password policy ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PasswordPolicySettings:
    """What UpdateAccountPasswordPolicy sets (IAM's parameters; None: not enforced)."""

    minimum_password_length: int = 8
    require_symbols: bool = False
    require_numbers: bool = False
    require_uppercase_characters: bool = False
    require_lowercase_characters: bool = False
    allow_users_to_change_password: bool = False
    max_password_age: int | None = None
    password_reuse_prevention: int | None = None
    hard_expiry: bool = False


def password_policy_get(*, caller: Caller) -> PasswordPolicy:
    """GetAccountPasswordPolicy: the account's custom policy, or NoSuchEntity when it uses
    IAM's default (as IAM answers)."""
    with operation(caller, "GetAccountPasswordPolicy", read_only=True, event_source=IAM,
                   request_parameters=None):
        authorize(caller, "iam:GetAccountPasswordPolicy", resource_account_id=caller.account_id)
        policy = PasswordPolicy.objects.filter(account_id=caller.account_id).first()
        if policy is None:
            raise NoSuchEntityError(f"The Password Policy with domain name {caller.account_id} "
                                    "cannot be found.")
        return policy


def password_policy_update(*, caller: Caller,
                           settings: PasswordPolicySettings) -> PasswordPolicy:
    """UpdateAccountPasswordPolicy: set the account's policy to `settings` (every field: what
    is not given takes its default, as in IAM). Passwords already set stay until changed."""
    with operation(caller, "UpdateAccountPasswordPolicy", read_only=False, event_source=IAM,
                   request_parameters=_policy_parameters(settings)):
        authorize(caller, "iam:UpdateAccountPasswordPolicy",
                  resource_account_id=caller.account_id)
        _check_policy_settings(settings)
        policy, _ = PasswordPolicy.objects.update_or_create(
            account_id=caller.account_id, defaults=vars(settings))
        return policy


def password_policy_delete(*, caller: Caller) -> None:
    """DeleteAccountPasswordPolicy: back to IAM's default policy."""
    with operation(caller, "DeleteAccountPasswordPolicy", read_only=False, event_source=IAM,
                   request_parameters=None):
        authorize(caller, "iam:DeleteAccountPasswordPolicy",
                  resource_account_id=caller.account_id)
        deleted, _ = PasswordPolicy.objects.filter(account_id=caller.account_id).delete()
        if not deleted:
            raise NoSuchEntityError(f"The account policy with name {caller.account_id} cannot "
                                    "be found.")


def _policy_parameters(settings: PasswordPolicySettings) -> dict:
    """The request's parameters in IAM's lowerCamelCase names (CloudTrail's shape)."""
    names = {"minimum_password_length": "minimumPasswordLength",
             "require_symbols": "requireSymbols", "require_numbers": "requireNumbers",
             "require_uppercase_characters": "requireUppercaseCharacters",
             "require_lowercase_characters": "requireLowercaseCharacters",
             "allow_users_to_change_password": "allowUsersToChangePassword",
             "max_password_age": "maxPasswordAge",
             "password_reuse_prevention": "passwordReusePrevention",
             "hard_expiry": "hardExpiry"}
    return {names[field]: value for field, value in vars(settings).items() if value is not None}


def _check_policy_settings(settings: PasswordPolicySettings) -> None:
    problems = []
    for field, label, (low, high) in (
            ("minimum_password_length", "MinimumPasswordLength", MIN_PASSWORD_LENGTH_RANGE),
            ("max_password_age", "MaxPasswordAge", MAX_PASSWORD_AGE_RANGE),
            ("password_reuse_prevention", "PasswordReusePrevention", PASSWORD_REUSE_RANGE)):
        value = getattr(settings, field)
        if value is None and field != "minimum_password_length":
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems.append(f"{label} must be a whole number from {low} to {high}.")
    if problems:
        raise ValidationError(" ".join(problems))


# --- enforcing the policy (grants.services.validate_console_password) ----------------------------

@dataclass(frozen=True)
class PasswordRules:
    """The rules a new console password of one account must meet."""

    minimum_length: int = 8
    require_uppercase: bool = False
    require_lowercase: bool = False
    require_numbers: bool = False
    require_symbols: bool = False
    kinds_required: int = 0       # IAM's default: three of the four kinds
    reuse_prevention: int = 0     # how many earlier passwords may not come back

    @classmethod
    def default(cls) -> "PasswordRules":
        return cls(minimum_length=8, kinds_required=3)

    @classmethod
    def of(cls, policy: PasswordPolicy) -> "PasswordRules":
        return cls(minimum_length=policy.minimum_password_length,
                   require_uppercase=policy.require_uppercase_characters,
                   require_lowercase=policy.require_lowercase_characters,
                   require_numbers=policy.require_numbers,
                   require_symbols=policy.require_symbols,
                   reuse_prevention=policy.password_reuse_prevention or 0)


def password_rules_for(account_id: str) -> PasswordRules:
    policy = PasswordPolicy.objects.filter(account_id=account_id).first()
    return PasswordRules.of(policy) if policy else PasswordRules.default()


def _kinds(password: str) -> dict[str, bool]:
    return {"uppercase": any(c.isupper() for c in password),
            "lowercase": any(c.islower() for c in password),
            "number": any(c.isdigit() for c in password),
            "symbol": any(not c.isalnum() for c in password)}


def password_problems(password: str, *, user: User | None = None,
                      account_id: str | None = None) -> list[str]:
    """What is wrong with `password` as a console password for `user` (or for a user about
    to be created in `account_id`) under the account's policy; [] when nothing is, or when no
    account is known (a seed file read before its accounts exist: Django's validators alone)."""
    account_id = user.account_id if user is not None else account_id
    if not account_id or not isinstance(password, str):
        return []
    rules = password_rules_for(account_id)
    kinds = _kinds(password)
    problems = []
    if len(password) < rules.minimum_length:
        problems.append(f"Password should have a minimum length of {rules.minimum_length}.")
    for kind, required in (("uppercase", rules.require_uppercase),
                           ("lowercase", rules.require_lowercase),
                           ("number", rules.require_numbers), ("symbol", rules.require_symbols)):
        if required and not kinds[kind]:
            problems.append(f"Password should have at least one {_KIND_WORDS[kind]}.")
    if sum(kinds.values()) < rules.kinds_required:
        problems.append("Password should have at least three of: uppercase letters, lowercase "
                        "letters, numbers, and non-alphanumeric characters.")
    if user is not None and password.lower() == user.name.lower():
        problems.append("Password should not be the user name.")
    if user is not None and rules.reuse_prevention and _reused(user, password,
                                                               rules.reuse_prevention):
        problems.append(f"Password should not be one of your {rules.reuse_prevention} previous "
                        "passwords.")
    return problems


_KIND_WORDS = {"uppercase": "uppercase letter", "lowercase": "lowercase letter",
               "number": "number", "symbol": "non-alphanumeric character"}


def _reused(user: User, password: str, remembered: int) -> bool:
    """Whether `password` is the current one or among the `remembered` - 1 before it."""
    hashes = [user.password] if user.has_usable_password() else []
    hashes += list(user.password_history.values_list("password", flat=True)
                   [:max(remembered - len(hashes), 0)])
    return any(check_password(password, encoded) for encoded in hashes)


def password_remember(user: User) -> None:
    """Keep the user's current password hash before it is replaced, for reuse prevention (the
    most any policy may ask for, older ones dropped). Never the password itself."""
    if not user.has_usable_password():
        return
    PasswordHistory.objects.create(user=user, password=user.password)
    stale = user.password_history.values_list("pk", flat=True)[KEPT_PASSWORD_HISTORY:]
    PasswordHistory.objects.filter(pk__in=list(stale)).delete()
