"""kmsconsole settings: one file, driven by the environment.

With no environment at all the project runs on embedded defaults that need no server: SQLite and
kombu's filesystem broker under var/, and a development root key created under var/ on first use.
DATABASE_URL (PostgreSQL) and REDIS_URL switch to real servers. Every secret can also be given as
a file through the matching *_FILE variable.
"""

import hashlib
import hmac
import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KMS_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str | None = None) -> str | None:
    """Read NAME, or the contents of the file named by NAME_FILE (for container secrets)."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return default


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def development_secret_key() -> str:
    """A per-checkout secret key for development, kept under var/ so sessions survive restarts."""
    from django.core.management.utils import get_random_secret_key

    path = VAR_DIR / "django_secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(get_random_secret_key())
    return path.read_text().strip()


DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env("DJANGO_SECRET_KEY") or development_secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["*"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "grants",
    "keys",
    "audit",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every console page needs a signed-in user unless its view says otherwise
    # (@login_not_required: sign-in, /healthz, and POST / whose callers sign with SigV4).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "kmsconsole.middleware.VaryOnHtmxMiddleware",
]

ROOT_URLCONF = "kmsconsole.urls"
WSGI_APPLICATION = "kmsconsole.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kmsconsole.console.layout",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL names a server.
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'kmsconsole.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "grants.User"
AUTHENTICATION_BACKENDS = ["grants.backends.IAMUserBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/signin"

# Console hardening. Threats: clickjacking (frames), injected scripts (CSP without inline
# scripts: htmx is served from static files), session theft over plain HTTP (secure cookies
# whenever not in development), and sessions left open forever (AWS ends console sessions
# after at most 12 hours).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(12 * 3600)))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# Audit trail: tamper evidence (audit/chain.py, audit/digests.py) and retention
# (audit/retention.py).
# AUDIT_DIGEST_KEY signs the chain digests (HMAC-SHA256). Production must set it (or
# AUDIT_DIGEST_KEY_FILE) to a long random secret of its own, and keep it: a digest verifies only
# under the key that signed it. In development and tests, when it is not set, it is derived from
# SECRET_KEY (HMAC with a fixed label, so the digest key never equals SECRET_KEY itself); that
# fallback also keeps a production that forgot it running, with a warning at each digest, but
# then anyone holding SECRET_KEY can sign digests too.
AUDIT_DIGEST_KEY_DERIVED = not env("AUDIT_DIGEST_KEY")
AUDIT_DIGEST_KEY = env("AUDIT_DIGEST_KEY") or hmac.new(
    SECRET_KEY.encode(), b"kmsconsole audit digest key", hashlib.sha256).hexdigest()
# How often the beat task signs a digest (only when events were appended since the last one).
AUDIT_DIGEST_INTERVAL_SECONDS = int(os.environ.get("AUDIT_DIGEST_INTERVAL_SECONDS", "3600"))
# Events older than this many days are exported to AUDIT_EXPORT_DIR (gzipped JSON Lines, one
# CloudTrail record per line) and deleted by the daily retention task; 0 keeps them forever.
AUDIT_RETENTION_DAYS = int(os.environ.get("AUDIT_RETENTION_DAYS", "365"))
AUDIT_EXPORT_DIR = Path(os.environ.get("AUDIT_EXPORT_DIR", VAR_DIR / "audit-exports"))
# Events per export file and per retention transaction (bounded memory and lock time).
AUDIT_RETENTION_BATCH_SIZE = int(os.environ.get("AUDIT_RETENTION_BATCH_SIZE", "10000"))

# Suspicious-activity alerts (audit/alerts.py): rules over the event stream, run by beat every
# AUDIT_ALERT_SCAN_INTERVAL_SECONDS (and by the Alerts page before it lists them), reading at
# most AUDIT_ALERT_SCAN_BATCH_SIZE events per transaction.
AUDIT_ALERT_SCAN_INTERVAL_SECONDS = int(os.environ.get("AUDIT_ALERT_SCAN_INTERVAL_SECONDS", "60"))
AUDIT_ALERT_SCAN_BATCH_SIZE = int(os.environ.get("AUDIT_ALERT_SCAN_BATCH_SIZE", "1000"))
# A burst: one principal denied (AccessDeniedException) this many times within this many seconds.
AUDIT_ALERT_DENIED_BURST_COUNT = int(os.environ.get("AUDIT_ALERT_DENIED_BURST_COUNT", "10"))
AUDIT_ALERT_DENIED_BURST_SECONDS = int(os.environ.get("AUDIT_ALERT_DENIED_BURST_SECONDS", "60"))
# Decrypt volume: a principal's successful Decrypts in the window, compared with its average per
# window over the baseline days before; alert above FACTOR times that average, and only from
# MIN_COUNT requests in the window (a quiet principal's average is near zero).
AUDIT_ALERT_DECRYPT_WINDOW_SECONDS = int(
    os.environ.get("AUDIT_ALERT_DECRYPT_WINDOW_SECONDS", "3600"))
AUDIT_ALERT_DECRYPT_BASELINE_DAYS = int(os.environ.get("AUDIT_ALERT_DECRYPT_BASELINE_DAYS", "7"))
AUDIT_ALERT_DECRYPT_FACTOR = float(os.environ.get("AUDIT_ALERT_DECRYPT_FACTOR", "10"))
AUDIT_ALERT_DECRYPT_MIN_COUNT = int(os.environ.get("AUDIT_ALERT_DECRYPT_MIN_COUNT", "100"))
# Use of a disabled or pending-deletion key: one alert per principal and key per this window.
AUDIT_ALERT_KEY_USE_WINDOW_SECONDS = int(
    os.environ.get("AUDIT_ALERT_KEY_USE_WINDOW_SECONDS", "3600"))

# Celery: Redis when REDIS_URL is set, else kombu's filesystem transport under var/ (no server).
REDIS_URL = env("REDIS_URL")
CELERY_QUEUE_DIR = Path(os.environ.get("CELERY_QUEUE_DIR", VAR_DIR / "celery"))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
    }
    # kombu's filesystem transport needs its folders before the first message.
    for _folder in ("queue", "control"):
        (CELERY_QUEUE_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    "audit-digest": {"task": "audit.tasks.audit_digest",
                     "schedule": AUDIT_DIGEST_INTERVAL_SECONDS},
    # Daily, at a quiet hour (UTC): retention deletes in batches and holds rows while it does.
    "audit-retention": {"task": "audit.tasks.audit_retention",
                        "schedule": crontab(hour=3, minute=17)},
    "audit-alerts-scan": {"task": "audit.tasks.audit_alerts_scan",
                          "schedule": AUDIT_ALERT_SCAN_INTERVAL_SECONDS},
}
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Key management.
KMS_ROOT_KEY = env("KMS_ROOT_KEY")
KMS_ROOT_KEY_FILE = os.environ.get("KMS_ROOT_KEY_FILE") or str(VAR_DIR / "root.key")
# A development root key file is created on first use only in development; in production a
# missing root key is an error, never a silently generated key that would orphan all material.
KMS_CREATE_ROOT_KEY_FILE = env_bool("KMS_CREATE_ROOT_KEY_FILE", DEBUG)
KMS_DEFAULT_REGION = os.environ.get("KMS_DEFAULT_REGION", "us-east-1")
KMS_REGIONS = env_list(
    "KMS_REGIONS",
    [
        "us-east-1", "us-east-2", "us-west-1", "us-west-2",
        "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
        "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1",
        "ap-northeast-2", "ca-central-1", "sa-east-1",
    ],
)

# Console sign-in (grants.signin). Threat: guessing a user's password online. After
# SIGNIN_LOCKOUT_ATTEMPTS wrong passwords or MFA codes in a row, that user's sign-in is refused for
# SIGNIN_LOCKOUT_SECONDS; SIGNIN_MFA_STEP_SECONDS is how long a right password waits for its MFA
# code before the sign-in starts over.
SIGNIN_LOCKOUT_ATTEMPTS = int(os.environ.get("SIGNIN_LOCKOUT_ATTEMPTS", "10"))
SIGNIN_LOCKOUT_SECONDS = int(os.environ.get("SIGNIN_LOCKOUT_SECONDS", "900"))
SIGNIN_MFA_STEP_SECONDS = int(os.environ.get("SIGNIN_MFA_STEP_SECONDS", "300"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
