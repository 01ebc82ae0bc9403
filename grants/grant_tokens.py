"""Grant tokens (kms-spec.md 6): opaque proof that a grant was created.

AWS needs tokens because its grants take up to five minutes to spread; presenting the token makes
a new grant work at once. Grants here are in the database the moment CreateGrant commits, so a
token adds no permission: requests that carry tokens only need them to be tokens we issued.
A token is the grant id and a random nonce signed with Django's signing (keyed by SECRET_KEY):
every CreateGrant returns a new one, and all tokens of a grant are interchangeable, as in AWS.
"""

import secrets

from django.core import signing

from kmsconsole.errors import InvalidGrantTokenError

_SIGNER = signing.Signer(salt="kms-grant-token")


def grant_token_for(grant_id: str) -> str:
    return _SIGNER.sign_object({"grant": grant_id, "nonce": secrets.token_hex(16)})


def grant_id_of_token(token: str) -> str:
    """The grant a token was issued for, or InvalidGrantTokenException."""
    try:
        value = _SIGNER.unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeError, TypeError):
        raise InvalidGrantTokenError("The grant token is invalid.") from None
    if not isinstance(value, dict) or not isinstance(value.get("grant"), str):
        raise InvalidGrantTokenError("The grant token is invalid.")
    return value["grant"]


def require_valid_grant_tokens(tokens: list[str] | None) -> None:
    for token in tokens or []:
        grant_id_of_token(token)
