"""The Create key wizard's state and steps (kms-spec.md 8.2), apart from the views.

The wizard works without JavaScript: each step is a plain form posted to the server, which keeps
what was entered in the session, keyed by a run id that every step carries, so two tabs running
the wizard at once never mix their keys. Nothing here reads a request or touches the ORM:
`parse_*` take the posted data and the run's state, store what was entered (even on Previous)
and return the step's errors in AWS's words, checked by the services' own validation
(keys.validation) wherever one exists. The key itself is created by one service at Finish.
"""

import re
import secrets

from grants.models import Role
from grants.policy.defaults import console_default_policy
from kmsconsole.errors import KmsError

from . import validation
from .crypto import specs

SESSION_KEY = "create_key_wizards"
MAX_RUNS = 10  # wizard runs kept per session; the oldest is dropped first
STEPS = [
    (1, "Configure key"),
    (2, "Add labels"),
    (3, "Define key administrative permissions"),
    (4, "Define key usage permissions"),
    (5, "Review"),
]
LAST_STEP = len(STEPS)

KEY_TYPES = [("SYMMETRIC", "Symmetric"), ("ASYMMETRIC", "Asymmetric")]
KEY_USAGES = {
    "SYMMETRIC": [("ENCRYPT_DECRYPT", "Encrypt and decrypt"),
                  ("GENERATE_VERIFY_MAC", "Generate and verify MAC")],
    "ASYMMETRIC": [("ENCRYPT_DECRYPT", "Encrypt and decrypt"),
                   ("SIGN_VERIFY", "Sign and verify")],
}
ORIGINS = [("AWS_KMS", "KMS"), ("EXTERNAL", "External (Import key material)")]
ASYMMETRIC_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
                    "ECC_NIST_P521", "ECC_SECG_P256K1")
HMAC_SPECS = ("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")
MAX_TAG_ROWS = validation.MAX_TAGS_PER_KEY
MAX_OTHER_ACCOUNTS = 20
ACCOUNT_ID = re.compile(r"\d{12}")
RUN_ID = re.compile(r"[A-Za-z0-9_-]{8,32}")


# --- the run's state in the session ---------------------------------------------------------

def new_state() -> dict:
    return {
        "reached": 1,
        "key_type": "SYMMETRIC", "key_usage": "ENCRYPT_DECRYPT", "key_spec": "SYMMETRIC_DEFAULT",
        "origin": "AWS_KMS", "external_ack": False,
        "alias": "", "description": "", "tag_rows": [["", ""]],
        "admins": [], "allow_admins_to_delete": True, "admin_filter": "",
        "users": [], "user_filter": "", "other_accounts": [],
        "policy": None,  # {"text": edited policy, "base": the generated policy it was edited from}
    }


def start(session) -> str:
    """A new wizard run: its id, which every step's URL and form carry."""
    runs = dict(session.get(SESSION_KEY) or {})
    while len(runs) >= MAX_RUNS:
        runs.pop(next(iter(runs)))
    run = secrets.token_urlsafe(12)
    runs[run] = new_state()
    session[SESSION_KEY] = runs
    return run


def load(session, run: str) -> dict | None:
    if not RUN_ID.fullmatch(run or ""):
        return None
    state = (session.get(SESSION_KEY) or {}).get(run)
    return dict(state) if state is not None else None


def save(session, run: str, state: dict) -> None:
    runs = dict(session.get(SESSION_KEY) or {})
    runs[run] = state
    session[SESSION_KEY] = runs


def discard(session, run: str) -> None:
    runs = dict(session.get(SESSION_KEY) or {})
    if runs.pop(run, None) is not None:
        session[SESSION_KEY] = runs


# --- step 1: Configure key ------------------------------------------------------------------

def spec_choices(key_type: str, key_usage: str) -> list[str]:
    """The key specs offered for a type and usage: only those valid for the usage."""
    if key_type == "SYMMETRIC":
        return list(HMAC_SPECS) if key_usage == "GENERATE_VERIFY_MAC" else ["SYMMETRIC_DEFAULT"]
    return [spec for spec in ASYMMETRIC_SPECS if key_usage in specs.allowed_usages(spec)]


def policy_key_type(state: dict) -> str:
    """console_default_policy's key type for the chosen type and usage."""
    if state["key_type"] == "ASYMMETRIC":
        return "SIGN_VERIFY" if state["key_usage"] == "SIGN_VERIFY" else "ASYMMETRIC_ENCRYPT"
    return "HMAC" if state["key_usage"] == "GENERATE_VERIFY_MAC" else "SYMMETRIC_ENCRYPT"


def parse_configure(data, state: dict) -> dict:
    errors = {}
    key_type = data.get("key_type")
    if key_type in KEY_USAGES:
        state["key_type"] = key_type
    else:
        errors["key_type"] = "Choose a key type."
    usages = [value for value, _ in KEY_USAGES[state["key_type"]]]
    usage = data.get("key_usage")
    if usage in usages:
        state["key_usage"] = usage
    else:
        # A usage of the other key type (the type changed): offer this type's usages.
        state["key_usage"] = usages[0] if state["key_usage"] not in usages else state["key_usage"]
        errors["key_usage"] = "Choose a key usage for this key type."
    choices = spec_choices(state["key_type"], state["key_usage"])
    spec = data.get("key_spec")
    if len(choices) == 1:
        state["key_spec"] = choices[0]
    elif spec in choices:
        state["key_spec"] = spec
    else:
        state["key_spec"] = ""
        errors["key_spec"] = "Choose a key spec."
    origin = data.get("origin", "AWS_KMS")
    if origin in dict(ORIGINS):
        state["origin"] = origin
    state["external_ack"] = data.get("external_ack") == "on"
    if state["origin"] == "EXTERNAL" and not state["external_ack"]:
        errors["external_ack"] = ("You must acknowledge the security and durability "
                                  "implications of using imported key material.")
    return errors


# --- step 2: Add labels ---------------------------------------------------------------------

def alias_name(state: dict) -> str:
    return f"alias/{state['alias']}"


def tags_of(state: dict) -> list[tuple[str, str]]:
    """The tags entered: rows where a key or a value was typed (blank rows are left out)."""
    return [(key, value) for key, value in state["tag_rows"] if key or value]


def _error_message(check, *args, **kwargs) -> str | None:
    try:
        check(*args, **kwargs)
    except KmsError as error:
        return error.message
    return None


def parse_labels(data, state: dict) -> dict:
    alias = data.get("alias", "").strip()
    # The console adds the prefix; someone pasting a full alias name means the same alias.
    state["alias"] = alias.removeprefix("alias/")[:256]
    state["description"] = data.get("description", "")[:validation.MAX_DESCRIPTION + 1]
    keys, values = data.getlist("tag_key"), data.getlist("tag_value")
    state["tag_rows"] = [[k, v] for k, v in zip(keys, values, strict=False)][:MAX_TAG_ROWS + 1]
    if not state["tag_rows"]:
        state["tag_rows"] = [["", ""]]
    errors = {}
    if not state["alias"]:
        errors["alias"] = "An alias is required."
    else:
        message = _error_message(validation.validate_alias_name, alias_name(state), creating=True)
        if message:
            errors["alias"] = message
    message = _error_message(validation.validate_description, state["description"])
    if message:
        errors["description"] = message
    message = _error_message(validation.validate_tags, tags_of(state), existing_keys=set())
    if message:
        errors["tags"] = message
    return errors


def add_tag_row(state: dict) -> None:
    if len(state["tag_rows"]) < MAX_TAG_ROWS:
        state["tag_rows"].append(["", ""])


def remove_tag_row(state: dict, index: str) -> None:
    if index.isdigit() and int(index) < len(state["tag_rows"]):
        state["tag_rows"].pop(int(index))
    if not state["tag_rows"]:
        state["tag_rows"] = [["", ""]]


# --- steps 3 and 4: key administrators, key users, other accounts ---------------------------

def principal_rows(principals, filter_text: str) -> list[dict]:
    """Table rows of IAM users and roles whose name, path or ARN contains the filter text."""
    needle = filter_text.strip().lower()
    rows = [{"name": p.name, "path": p.path, "arn": p.arn,
             "type": "Role" if isinstance(p, Role) else "User"} for p in principals]
    return [row for row in rows if not needle or needle in row["name"].lower()
            or needle in row["path"].lower() or needle in row["arn"].lower()]


def _selection(data, field: str, previous: list[str], known: set[str]) -> list[str]:
    """The selection after a post: rows shown on the page take their checkbox; rows hidden by
    the filter keep what they had. Only the account's own principals can be chosen."""
    shown = set(data.getlist("shown")) & known
    checked = set(data.getlist(field)) & shown
    kept = [arn for arn in previous if arn not in shown and arn in known]
    return kept + [arn for arn in sorted(checked)]


def parse_admins(data, state: dict, known: set[str]) -> dict:
    state["admins"] = _selection(data, "admin", state["admins"], known)
    state["allow_admins_to_delete"] = data.get("allow_admins_to_delete") == "on"
    state["admin_filter"] = data.get("filter", "")[:256]
    return {}


def parse_users(data, state: dict, known: set[str]) -> dict:
    state["users"] = _selection(data, "user", state["users"], known)
    state["user_filter"] = data.get("filter", "")[:256]
    state["other_accounts"] = [value.strip()[:64] for value
                               in data.getlist("other_account")][:MAX_OTHER_ACCOUNTS]
    bad = [value for value in state["other_accounts"] if value and not ACCOUNT_ID.fullmatch(value)]
    if bad:
        return {"other_accounts": f"The AWS account ID {bad[0]} is not valid. "
                                  "An AWS account ID is 12 digits."}
    return {}


def add_account_row(state: dict) -> None:
    if len(state["other_accounts"]) < MAX_OTHER_ACCOUNTS:
        state["other_accounts"].append("")


def remove_account_row(state: dict, index: str) -> None:
    if index.isdigit() and int(index) < len(state["other_accounts"]):
        state["other_accounts"].pop(int(index))


def other_accounts(state: dict) -> list[str]:
    return list(dict.fromkeys(value for value in state["other_accounts"] if value))


# --- step 5: Review -------------------------------------------------------------------------

def generated_policy(state: dict, account_id: str) -> str:
    return console_default_policy(
        account_id, admins=state["admins"], users=state["users"],
        other_accounts=other_accounts(state), key_type=policy_key_type(state),
        allow_admins_to_delete=state["allow_admins_to_delete"],
        external_origin=state["origin"] == "EXTERNAL")


def policy_text(state: dict, account_id: str) -> str:
    """The policy shown at Review: the user's edit, unless steps 1, 3 or 4 changed since
    (then the edit no longer matches the choices and the generated policy replaces it)."""
    generated = generated_policy(state, account_id)
    edited = state.get("policy")
    if edited and edited.get("base") == generated:
        return edited["text"]
    return generated


def parse_review(data, state: dict, account_id: str) -> None:
    text = data.get("policy", "").replace("\r\n", "\n")
    generated = generated_policy(state, account_id)
    state["policy"] = None if text == generated else {"text": text, "base": generated}
