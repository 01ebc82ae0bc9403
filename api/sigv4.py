"""SigV4 authentication on the server (kms-spec.md 1.5).

The signature is recomputed with botocore's own signer over a request rebuilt from the *signed*
headers only, with the timestamp taken from the request's X-Amz-Date (never add_auth(), which
would stamp the current time), then compared in constant time. Each check names the threat it
stops; the errors are AWS's.

The same check serves KMS (service "kms") and STS (service "sts"). An access key id starting
with ASIA is an assumed-role session's (SessionCredential): the request must also carry its
X-Amz-Security-Token, and the session must not have expired.
"""

import datetime
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.conf import settings
from django.utils import timezone

from grants.models import AccessKey, SessionCredential
from grants.principals import Principal
from keys.crypto.errors import RootKeyError
from kmsconsole.errors import (
    ROOT_KEY_MISMATCH_LOG,
    ExpiredTokenError,
    IncompleteSignatureError,
    InternalError,
    MissingAuthenticationTokenError,
    SignatureDoesNotMatchError,
    UnrecognizedClientError,
)

log = logging.getLogger(__name__)

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
SIGNATURE_PATTERN = re.compile(r"^[0-9a-f]{64}$")
SESSION_KEY_PREFIX = "ASIA"  # temporary credentials (AssumeRole); AKIA... are users' keys
INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"


@dataclass(frozen=True)
class SignedRequest:
    """What a verified signature tells: who signed, for which region. The signer is either an
    IAM user's access key or an assumed-role session's temporary credentials."""

    region: str
    access_key: AccessKey | None = None
    session: SessionCredential | None = None

    def principal(self) -> Principal:
        if self.session is not None:
            return Principal.for_session(self.session)
        return Principal.for_user(self.access_key.user,
                                  access_key_id=self.access_key.access_key_id)


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: list[str]
    signature: str


def parse_authorization(header: str) -> Authorization:
    """Split `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`."""
    if not header.isprintable():
        # Threat: control characters (U+0000 above all, which PostgreSQL cannot store) carried
        # into the access key lookup and the audit record of the refusal.
        raise IncompleteSignatureError("Authorization header contains a control character.")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureError(
            f"Unsupported signing algorithm '{algorithm}'; only {ALGORITHM} is accepted.")
    parts = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or not value:
            raise IncompleteSignatureError(
                f"'{item.strip()}' not a valid key=value pair (missing equal-sign) in "
                "Authorization header.")
        if name in parts:
            # Threat: two Credential= (or Signature=) parts, one read by a proxy or log, the
            # other by this check; an ambiguous header is refused, never resolved.
            raise IncompleteSignatureError(
                f"Authorization header has more than one '{name}' parameter.")
        parts[name] = value
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in parts]
    if missing:
        raise IncompleteSignatureError(
            "Authorization header requires " + ", ".join(f"'{m}' parameter" for m in missing)
            + ".")
    scope = parts["Credential"].split("/")
    if len(scope) != 5:
        raise IncompleteSignatureError(
            "Credential should be scoped to a valid access key, date, region, service and "
            "terminator ('aws4_request').")
    return Authorization(*scope, signed_headers=parts["SignedHeaders"].split(";"),
                         signature=parts["Signature"])


def _request_time(headers) -> tuple[str, datetime.datetime]:
    value = headers.get("X-Amz-Date")
    if not value:
        raise IncompleteSignatureError(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            "header.")
    try:
        moment = datetime.datetime.strptime(value, AMZ_DATE_FORMAT).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise IncompleteSignatureError(f"Date must be in ISO-8601 'basic format'. Got "
                                       f"'{value}'.") from None
    return value, moment


def _check_scope(auth: Authorization, amz_date: str, service: str) -> None:
    # Threat: a signature made for another service, region or day being replayed here.
    if auth.date != amz_date[:8]:
        raise SignatureDoesNotMatchError(
            f"Credential should be scoped to a valid date: {amz_date[:8]}, got {auth.date}.")
    if auth.region not in settings.KMS_REGIONS:
        raise SignatureDoesNotMatchError(
            f"Credential should be scoped to a valid region, not '{auth.region}'.")
    if auth.service != service:
        raise SignatureDoesNotMatchError(
            f"Credential should be scoped to correct service: '{service}'.")
    if auth.terminator != "aws4_request":
        raise SignatureDoesNotMatchError(
            "Credential should be scoped with a valid terminator: 'aws4_request', not "
            f"'{auth.terminator}'.")


def _check_signed_headers(auth: Authorization, headers) -> None:
    # Threat: a request whose host or date could be changed without breaking the signature.
    signed = set(auth.signed_headers)
    for required in ("host", "x-amz-date"):
        if required not in signed:
            raise SignatureDoesNotMatchError(f"'{required}' must be a signed header.")
    if "X-Amz-Security-Token" in headers and "x-amz-security-token" not in signed:
        raise SignatureDoesNotMatchError("'x-amz-security-token' must be a signed header.")
    # Threat: X-Amz-Target names the operation; unsigned, a captured DescribeKey could be
    # replayed as ScheduleKeyDeletion with the same signed body. Every AWS SDK signs it.
    if "X-Amz-Target" in headers and "x-amz-target" not in signed:
        raise SignatureDoesNotMatchError("'x-amz-target' must be a signed header.")


def _check_clock(amz_date: str, moment: datetime.datetime) -> None:
    # Threat: replay of a captured request long after it was signed.
    now = timezone.now()
    fmt = lambda t: t.strftime(AMZ_DATE_FORMAT)  # noqa: E731
    if moment < now - MAX_CLOCK_SKEW:
        raise SignatureDoesNotMatchError(
            f"Signature expired: {amz_date} is now earlier than "
            f"{fmt(now - MAX_CLOCK_SKEW)} ({fmt(now)} - 5 min.)")
    if moment > now + MAX_CLOCK_SKEW:
        raise SignatureDoesNotMatchError(
            f"Signature not yet current: {amz_date} is still later than "
            f"{fmt(now + MAX_CLOCK_SKEW)} ({fmt(now)} + 5 min.)")


def _check_body_hash(headers, body: bytes) -> None:
    # Threat: botocore's signer trusts X-Amz-Content-SHA256 instead of hashing the body, so a
    # body swapped after signing would verify unless the header is checked against it.
    claimed = headers.get("X-Amz-Content-SHA256")
    if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
        raise SignatureDoesNotMatchError(
            "The provided 'x-amz-content-sha256' header does not match what was computed.")


def expected_signature(*, method: str, path: str, query: str, headers, body: bytes,
                       auth: Authorization, amz_date: str, secret: str) -> str:
    """The signature botocore would compute for this request with this secret."""
    signed = {name: headers.get(name, "") for name in auth.signed_headers}
    url = f"http://{headers.get('Host', '')}{path}" + (f"?{query}" if query else "")
    rebuilt = AWSRequest(method=method, url=url, headers=signed, data=body)
    rebuilt.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(auth.access_key_id, secret), auth.service, auth.region)
    canonical = signer.canonical_request(rebuilt)
    return signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt)


def authenticate(*, method: str, path: str, query: str, headers, body: bytes,
                 service: str) -> SignedRequest:
    """Verify the SigV4 signature of a request; return the credentials that signed it."""
    header = headers.get("Authorization")
    if header and "X-Amz-Algorithm" in parse_qs(query, keep_blank_values=True):
        # Threat: two signatures on one request, each checked by a different reader. AWS's
        # JSON services refuse the pair with these words.
        raise SignatureDoesNotMatchError(
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP "
            "header.")
    if not header:
        raise MissingAuthenticationTokenError("Missing Authentication Token")
    auth = parse_authorization(header)
    amz_date, moment = _request_time(headers)
    _check_signed_headers(auth, headers)
    _check_scope(auth, amz_date, service)
    if auth.access_key_id.startswith(SESSION_KEY_PREFIX):
        signed = SignedRequest(region=auth.region, session=_session(auth, headers))
        secret = _unwrapped(auth, signed.session.secret)
    else:
        signed = SignedRequest(region=auth.region, access_key=_access_key(auth, headers))
        secret = _unwrapped(auth, signed.access_key.secret)
    _check_clock(amz_date, moment)
    _check_body_hash(headers, body)
    expected = expected_signature(method=method, path=path, query=query, headers=headers,
                                  body=body, auth=auth, amz_date=amz_date, secret=secret)
    if not SIGNATURE_PATTERN.match(auth.signature) or not hmac.compare_digest(
            expected, auth.signature):
        raise SignatureDoesNotMatchError(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.")
    return signed


def _unwrapped(auth: Authorization, secret) -> str:
    """The credential's secret, unwrapped under the root key (ROOT_KEY_MISMATCH_LOG when the
    database was written under another one)."""
    try:
        return secret()
    except RootKeyError:
        log.error(ROOT_KEY_MISMATCH_LOG, f"The secret of access key {auth.access_key_id}")
        raise InternalError("An internal error occurred.") from None


def _access_key(auth: Authorization, headers) -> AccessKey:
    access_key = (AccessKey.objects.select_related("user", "user__account")
                  .filter(access_key_id=auth.access_key_id).first())
    if access_key is None or access_key.status != AccessKey.ACTIVE or not access_key.user.is_active:
        raise UnrecognizedClientError(INVALID_TOKEN)
    if "X-Amz-Security-Token" in headers:
        # Long-term keys have no session token; AWS refuses the pair rather than ignore it.
        raise UnrecognizedClientError(INVALID_TOKEN)
    return access_key


def _session(auth: Authorization, headers) -> SessionCredential:
    """The assumed-role session of an ASIA access key id, if the request proves it holds the
    session token too and the session has not expired."""
    session = (SessionCredential.objects.select_related("role", "role__account")
               .filter(access_key_id=auth.access_key_id).first())
    token = headers.get("X-Amz-Security-Token")
    # Threat: temporary credentials used without their token (a leaked id and secret alone,
    # e.g. from a log that dropped the token) or with another session's token.
    if session is None or not token or not session.session_token_matches(token):
        raise UnrecognizedClientError(INVALID_TOKEN)
    # Threat: credentials kept and replayed after the session they were issued for ended.
    if timezone.now() >= session.expires_at:
        raise ExpiredTokenError(EXPIRED_TOKEN)
    return session
