"""Production mode (DJANGO_DEBUG=0) refuses to start without its secrets and allowed hosts.

Development makes up what is missing: a root key file and a Django secret key under var/, an audit
digest key derived from the secret key, any Host header. In production each of those would be a
silent hazard: a root key generated on a fresh volume orphans every wrapped key material, a
generated secret key logs everyone out at each restart and differs between web processes, a
digest key derived from SECRET_KEY lets anyone who holds SECRET_KEY forge audit digests, and no
host list lets a forged Host header through. So settings.py calls require_production_settings(),
which raises one ImproperlyConfigured naming everything that is missing, so an operator fixes the
configuration in one go instead of one restart per mistake.

Only names of variables and files appear in the message, never a value.
"""

from django.core.exceptions import ImproperlyConfigured

from keys.crypto.errors import RootKeyError
from keys.crypto.rootkey import load_root_key


def root_key_problem(*, root_key: str | None, root_key_file: str | None) -> str | None:
    """What is wrong with the configured root key, or None if it loads.

    Loading it now (without creating a file) moves a wrong mode, a typo in the base64 or a
    missing file from the first Encrypt to the start-up.
    """
    if not (root_key and root_key.strip()) and not root_key_file:
        return "a root key: set KMS_ROOT_KEY or KMS_ROOT_KEY_FILE (a file, mode 0600)"
    try:
        load_root_key(key_b64=root_key, key_file=root_key_file, create_file_if_missing=False)
    except RootKeyError as error:
        return f"a usable root key: {error}"
    return None


def production_problems(*, root_key: str | None, root_key_file: str | None,
                        secret_key: str | None, allowed_hosts: list[str],
                        audit_digest_key: str | None) -> list[str]:
    """Everything production mode lacks, one line each; empty when it may start."""
    problems = []
    root = root_key_problem(root_key=root_key, root_key_file=root_key_file)
    if root:
        problems.append(root)
    if not secret_key:
        problems.append("a secret key: set DJANGO_SECRET_KEY or DJANGO_SECRET_KEY_FILE")
    if not allowed_hosts:
        problems.append("allowed hosts: set DJANGO_ALLOWED_HOSTS (comma-separated host names)")
    if not audit_digest_key:
        problems.append("an audit digest key: set AUDIT_DIGEST_KEY or AUDIT_DIGEST_KEY_FILE "
                        "(not derived from the secret key in production)")
    return problems


def require_production_settings(**configuration) -> None:
    """Raise ImproperlyConfigured listing every problem production_problems() finds."""
    problems = production_problems(**configuration)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ImproperlyConfigured(
            "kmsconsole is in production mode (DJANGO_DEBUG=0) and refuses to start without:\n"
            f"{lines}\n"
            "Secrets can also come from files through the *_FILE variables; see "
            "docs/deployment.md. For development, leave DJANGO_DEBUG unset.")
