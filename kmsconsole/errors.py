"""The errors services raise: AWS KMS error types (kms-spec.md sections 1.3, 1.4 and 3.3).

Services raise these; the API turns them into {"__type", "message"} with the status below and the
console shows the message. `code` is the AWS error type, written to audit events as errorCode.
Messages never contain secret material.
"""


class KmsError(Exception):
    """Base class: an AWS error type with an HTTP status and a message."""

    code = "KMSInternalException"
    status = 500

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message


class ClientError(KmsError):
    status = 400


class ValidationError(ClientError):
    code = "ValidationException"


class NotFoundError(ClientError):
    code = "NotFoundException"


class InvalidArnError(ClientError):
    code = "InvalidArnException"


class DisabledError(ClientError):
    code = "DisabledException"


class InvalidStateError(ClientError):
    code = "KMSInvalidStateException"


class InvalidKeyUsageError(ClientError):
    code = "InvalidKeyUsageException"


class InvalidCiphertextError(ClientError):
    code = "InvalidCiphertextException"


class IncorrectKeyError(ClientError):
    code = "IncorrectKeyException"


class InvalidSignatureError(ClientError):
    code = "KMSInvalidSignatureException"


class InvalidMacError(ClientError):
    code = "KMSInvalidMacException"


class AlreadyExistsError(ClientError):
    code = "AlreadyExistsException"


class InvalidAliasNameError(ClientError):
    code = "InvalidAliasNameException"


class NotAuthorizedError(ClientError):
    code = "NotAuthorizedException"


class LimitExceededError(ClientError):
    code = "LimitExceededException"


class TagError(ClientError):
    code = "TagException"


class UnsupportedOperationError(ClientError):
    code = "UnsupportedOperationException"


class InvalidMarkerError(ClientError):
    code = "InvalidMarkerException"


class DryRunOperationError(ClientError):
    code = "DryRunOperationException"


class AccessDeniedError(ClientError):
    code = "AccessDeniedException"


class InternalError(KmsError):
    code = "KMSInternalException"
    status = 500


# The errors services raise carry the KMS (JSON protocol) type; STS and IAM speak the Query
# protocol's codes and statuses (botocore's sts and iam models, and what AWS answers for common
# errors). api/sts.py answers with them, and their audit events record them, as CloudTrail's
# records of STS and IAM calls do (errorCode "AccessDenied"), so the answer and the trail agree.
QUERY_PROTOCOL_ERRORS = {
    "AccessDeniedException": ("AccessDenied", 403),
    "ValidationException": ("ValidationError", 400),
    "MalformedPolicyDocumentException": ("MalformedPolicyDocument", 400),
    # IAM's names for the quota and the name already taken.
    "LimitExceededException": ("LimitExceeded", 409),
    "AlreadyExistsException": ("EntityAlreadyExists", 409),
    "UnrecognizedClientException": ("InvalidClientTokenId", 403),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
    "IncompleteSignatureException": ("IncompleteSignature", 400),
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403),
    "ExpiredTokenException": ("ExpiredToken", 400),
    "UnknownOperationException": ("InvalidAction", 400),
    "SerializationException": ("MalformedQueryString", 400),
    "KMSInternalException": ("InternalFailure", 500),
    # The database unreachable (fault_for): the Query protocol's common transient error, which
    # SDKs retry.
    "DependencyTimeoutException": ("ServiceUnavailable", 503),
}
QUERY_PROTOCOL_EVENT_SOURCES = frozenset({"iam.amazonaws.com", "sts.amazonaws.com"})


def recorded_error_code(event_source: str, code: str) -> str:
    """The errorCode an audit event of `event_source` records for an error of type `code`."""
    if event_source in QUERY_PROTOCOL_EVENT_SOURCES:
        return QUERY_PROTOCOL_ERRORS.get(code, (code, 0))[0]
    return code


# The log line when a value wrapped under the root key does not unwrap with the configured one:
# a database restored (or pointed at) with another root key. The operator's mistake, not the
# caller's and not a bug: callers get InternalError with no hint about the keys, the log says
# what to check (`what` names the value, never its content), without a traceback.
ROOT_KEY_MISMATCH_LOG = ("%s could not be unwrapped with the configured root key (KMS_ROOT_KEY / "
                         "KMS_ROOT_KEY_FILE): is it the root key this database was written with?")


class DependencyTimeoutError(KmsError):
    """A dependency (the database) did not answer: transient, the SDKs retry it (503, as
    kms-spec.md 1.3 recommends for this fault)."""

    code = "DependencyTimeoutException"
    status = 503


class MalformedPolicyDocumentError(ClientError):
    code = "MalformedPolicyDocumentException"


class InvalidGrantTokenError(ClientError):
    code = "InvalidGrantTokenException"


class InvalidGrantIdError(ClientError):
    code = "InvalidGrantIdException"


# Imported key material (kms-spec.md 2.8).

class IncorrectKeyMaterialError(ClientError):
    code = "IncorrectKeyMaterialException"


class InvalidImportTokenError(ClientError):
    code = "InvalidImportTokenException"


class ExpiredImportTokenError(ClientError):
    code = "ExpiredImportTokenException"


# IAM errors without a KMS counterpart (IAM's Query-protocol codes and statuses).

class NoSuchEntityError(KmsError):
    """A user, role, policy or policy version that does not exist."""

    code = "NoSuchEntity"
    status = 404


class DeleteConflictError(KmsError):
    """Deleting something still in use: a role with policies, a policy still attached."""

    code = "DeleteConflict"
    status = 409


# Protocol and authentication errors (kms-spec.md 1.3 and 1.5), raised by the API layer.

class SerializationError(ClientError):
    code = "SerializationException"


class UnknownOperationError(ClientError):
    code = "UnknownOperationException"


class MissingAuthenticationTokenError(ClientError):
    code = "MissingAuthenticationTokenException"


class IncompleteSignatureError(ClientError):
    code = "IncompleteSignatureException"


class SignatureDoesNotMatchError(ClientError):
    """SigV4 failures: AWS calls this InvalidSignatureException."""

    code = "InvalidSignatureException"


class UnrecognizedClientError(ClientError):
    code = "UnrecognizedClientException"


class ExpiredTokenError(ClientError):
    code = "ExpiredTokenException"


class CustomKeyStoreNotFoundError(ClientError):
    code = "CustomKeyStoreNotFoundException"


def fault_for(error: Exception) -> KmsError:
    """The AWS fault for an exception that is not a KmsError (a bug or a dependency failure).

    The database unreachable or the connection lost (restart, failover, network): the request
    may succeed if retried, which is AWS's DependencyTimeoutException ("The system timed out
    while trying to fulfill the request. You can retry the request."), answered with 503 so SDKs
    back off and retry. Anything else, a database error included (an IntegrityError is our bug,
    not a dependency's), is KMSInternalException. The API answers with it and the audit trail
    records it, so the two always agree.
    """
    from django.db import InterfaceError, OperationalError

    if isinstance(error, KmsError):
        return error
    if isinstance(error, (OperationalError, InterfaceError)):
        return DependencyTimeoutError("The service could not reach its database in time. "
                                      "You can retry the request.")
    return InternalError("An internal error occurred.")
