"""Console sign-in: check the password, record a ConsoleLogin event, success or failure.

AWS records every console sign-in in CloudTrail as `ConsoleLogin` from `signin.amazonaws.com`
(eventType AwsConsoleSignIn), with responseElements {"ConsoleLogin": "Success" | "Failure"} and,
for a failure, errorMessage "Failed authentication". The password is never recorded. When the
user name matches no user, the record hides it as AWS does ("HIDDEN_DUE_TO_SECURITY_REASONS"):
people type their password into the wrong field, and a user name field must not leak it.

The view starts the session (django.contrib.auth.login); this module never reads the request.
"""

from django.contrib.auth import authenticate

from audit.recording import operation
from kmsconsole.errors import KmsError

from .models import User
from .principals import SOURCE_CONSOLE, Caller, Principal
from .selectors import signin_candidate

SIGNIN_EVENT_SOURCE = "signin.amazonaws.com"
HIDDEN_USER_NAME = "HIDDEN_DUE_TO_SECURITY_REASONS"
FAILED_AUTHENTICATION = "Failed authentication"


class SignInFailedError(KmsError):
    """A refused sign-in; the message never says which of the three fields was wrong."""

    code = FAILED_AUTHENTICATION
    status = 401

    def __init__(self):
        super().__init__(FAILED_AUTHENTICATION)


def console_sign_in(*, account: str, user_name: str, password: str, region: str,
                    source_ip: str, user_agent: str, request_id: str,
                    secure_transport: bool, login_to: str) -> User:
    """The user the three fields name if the password is right, else SignInFailedError.

    Either way one ConsoleLogin event is written (in the account the attempt named, when it
    names one). `login_to` is the console URL the user wanted (CloudTrail's LoginTo)."""
    account, user_name = account.strip(), user_name.strip()
    user = authenticate(None, account=account, username=user_name, password=password)
    principal = Principal.for_user(user) if user else _failed_principal(account, user_name)
    caller = Caller(principal=principal, region=region, source=SOURCE_CONSOLE,
                    source_ip=source_ip, user_agent=user_agent, request_id=request_id,
                    secure_transport=secure_transport)
    with operation(caller, "ConsoleLogin", read_only=False,
                   event_source=SIGNIN_EVENT_SOURCE) as op:
        op.event_type = "AwsConsoleSignIn"
        op.additional_event_data = {"LoginTo": login_to, "MobileVersion": "No",
                                    "MFAUsed": "No"}
        op.error_response_elements = {"ConsoleLogin": "Failure"}
        if user is None:
            raise SignInFailedError()
        op.response_elements = {"ConsoleLogin": "Success"}
        return user


def _failed_principal(account: str, user_name: str) -> Principal:
    """Who a failed attempt claimed to be, as far as it is safe to record."""
    account_id, user = signin_candidate(account=account, user_name=user_name)
    if user is not None:
        return Principal(account_id=account_id, arn=user.arn, type="IAMUser",
                         principal_id=user.unique_id, user_name=user.name)
    return Principal(account_id=account_id, arn="", type="IAMUser", principal_id="",
                     user_name=HIDDEN_USER_NAME)
