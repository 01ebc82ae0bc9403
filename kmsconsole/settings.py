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

from kmsconsole.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KMS_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str | None = None) -> str | None:
    """Read NAME, or the contents of the file named by NAME_FILE (for container secrets)."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as error:
            # A clear start-up error naming the variable and file, not a bare traceback.
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"{name}_FILE names {path}, which cannot be read ({error.strerror})") from None
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


# DJANGO_DEBUG=0 is production mode: no generated or derived secret is used, and start-up is
# refused (kmsconsole/production.py, called below) until every secret and the allowed hosts are set.
DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env("DJANGO_SECRET_KEY") or (development_secret_key() if DEBUG else "")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["*"] if DEBUG else [])
# Origins (scheme://host) allowed to POST console forms besides the request's own host.
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

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
    # First, so everything after it logs with the request's id; then count and time the request
    # (kmsconsole/logs.py, kmsconsole/metrics.py).
    "kmsconsole.logs.RequestIdMiddleware",
    "kmsconsole.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from gunicorn (no separate file server), before sessions and auth.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A console body over 1 MiB gets a 413 page before anything reads (or spools) it
    # (kmsconsole/middleware.py); the API keeps its own check.
    "kmsconsole.middleware.RefuseOversizedBodyMiddleware",
    # Every console page needs a signed-in user unless its view says otherwise
    # (@login_not_required: sign-in, /healthz, and POST / whose callers sign with SigV4).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # A session that must change its password first sees nothing else (grants/middleware.py).
    "grants.middleware.PasswordChangeRequiredMiddleware",
    # A console field with U+0000 gets a 400 page, not a database error (kmsconsole/middleware.py).
    "kmsconsole.middleware.RefuseNulCharacterMiddleware",
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
# The password apart from the URL, so it can come from a secrets file (DATABASE_PASSWORD_FILE).
if env("DATABASE_PASSWORD"):
    DATABASES["default"]["PASSWORD"] = env("DATABASE_PASSWORD")
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
# HTTPS only in production (`manage.py check --deploy` is clean with these defaults). Threat:
# credentials, session cookies and key material crossing the network in clear text, and a
# downgrade to http:// by an attacker on the path (HSTS makes browsers refuse it).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# Probes from load balancers, Docker and Prometheus speak plain HTTP on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS",
                                         "0" if DEBUG else str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto: https. Opt-in, because a client
# that can reach gunicorn directly could send that header itself and pass for HTTPS.
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
# WhiteNoise serves what collectstatic gathered (with gzip copies) from the web process itself.
# File names are not hashed (no manifest): pages render even where collectstatic never ran (the
# benches, a DEBUG=0 shell), and WhiteNoise lets browsers cache each file for 60 seconds, so a
# release's CSS shows up within a minute.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Decided here, not from DEBUG at request time: pytest-django turns DEBUG off at run time, and
# tests and development have no collected files, so they serve straight from static/ and apps.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Audit trail: tamper evidence (audit/chain.py, audit/digests.py) and retention
# (audit/retention.py).
# AUDIT_DIGEST_KEY signs the chain digests (HMAC-SHA256). Production must set it (or
# AUDIT_DIGEST_KEY_FILE) to a long random secret of its own, and keep it: a digest verifies only
# under the key that signed it. In development and tests, when it is not set, it is derived from
# SECRET_KEY (HMAC with a fixed label, so the digest key never equals SECRET_KEY itself); in
# production that fallback is refused at start-up (kmsconsole/production.py), since anyone holding
# SECRET_KEY could then sign digests too.
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

# How often beat runs the key sweep: rotate keys that are due, delete keys whose deletion
# waiting period ended (keys/sweep.py). A due key waits at most this long.
KMS_SWEEP_INTERVAL_SECONDS = int(os.environ.get("KMS_SWEEP_INTERVAL_SECONDS", "60"))

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
    # Rotation and deletion (keys/sweep.py). A tick not started within one interval expires
    # instead of queueing behind a long sweep: the next tick finds the same keys due anyway.
    "kms-sweep": {"task": "keys.tasks.kms_sweep", "schedule": KMS_SWEEP_INTERVAL_SECONDS,
                  "options": {"expires": KMS_SWEEP_INTERVAL_SECONDS}},
}
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Key management.
# Not env(): KMS_ROOT_KEY_FILE is read by keys/crypto/rootkey.py, which refuses a file that group
# or others may read; env() would read it here and skip that check.
KMS_ROOT_KEY = os.environ.get("KMS_ROOT_KEY")
KMS_ROOT_KEY_FILE = os.environ.get("KMS_ROOT_KEY_FILE") or str(VAR_DIR / "root.key")
# A development root key file is created on first use only in development; in production a
# missing root key is an error, never a silently generated key that would orphan all material.
KMS_CREATE_ROOT_KEY_FILE = env_bool("KMS_CREATE_ROOT_KEY_FILE", DEBUG)
# Only while a root-key rotation runs (docs/deployment.md, "Root key rotation"): the old root key,
# still accepted for unwrapping values not yet re-wrapped. Never created; unset it afterwards.
KMS_PREVIOUS_ROOT_KEY = os.environ.get("KMS_PREVIOUS_ROOT_KEY")
KMS_PREVIOUS_ROOT_KEY_FILE = os.environ.get("KMS_PREVIOUS_ROOT_KEY_FILE") or None
if (KMS_PREVIOUS_ROOT_KEY or "").strip() or KMS_PREVIOUS_ROOT_KEY_FILE:
    # A previous key that does not load (mode, typo) stops the start, not the first request
    # that needs it. The message names the variable or file, never the key.
    from django.core.exceptions import ImproperlyConfigured

    from keys.crypto.errors import RootKeyError
    from keys.crypto.rootkey import load_root_key

    try:
        load_root_key(key_b64=KMS_PREVIOUS_ROOT_KEY, key_file=KMS_PREVIOUS_ROOT_KEY_FILE,
                      create_file_if_missing=False, variable="KMS_PREVIOUS_ROOT_KEY")
    except RootKeyError as _error:
        raise ImproperlyConfigured(f"The previous root key cannot be used: {_error}") from None
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

# Production mode refuses to start without its secrets and allowed hosts: one message lists
# everything missing (a generated root key would orphan all key material at the next start).
if not DEBUG:
    from kmsconsole.production import require_production_settings

    require_production_settings(
        root_key=KMS_ROOT_KEY, root_key_file=os.environ.get("KMS_ROOT_KEY_FILE"),
        secret_key=env("DJANGO_SECRET_KEY"), allowed_hosts=ALLOWED_HOSTS,
        audit_digest_key=env("AUDIT_DIGEST_KEY"))

# Console sign-in (grants.signin). Threat: guessing a user's password online. After
# SIGNIN_LOCKOUT_ATTEMPTS wrong passwords or MFA codes in a row, that user's sign-in is refused for
# SIGNIN_LOCKOUT_SECONDS; SIGNIN_MFA_STEP_SECONDS is how long a right password waits for its MFA
# code before the sign-in starts over.
SIGNIN_LOCKOUT_ATTEMPTS = int(os.environ.get("SIGNIN_LOCKOUT_ATTEMPTS", "10"))
SIGNIN_LOCKOUT_SECONDS = int(os.environ.get("SIGNIN_LOCKOUT_SECONDS", "900"))
SIGNIN_MFA_STEP_SECONDS = int(os.environ.get("SIGNIN_MFA_STEP_SECONDS", "300"))

# Logs (kmsconsole/logs.py): to standard error, every line with its request id. LOG_FORMAT=json
# writes one JSON object per line (the default outside development, for log collectors);
# LOG_FORMAT=text a readable line (the default in development).
LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("text" if DEBUG else "json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=os.environ.get("LOG_LEVEL", "INFO"))
# The Celery worker keeps these handlers instead of installing its own, so its lines are in the
# same format (JSON in production) as the web processes'.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# GET /metrics (kmsconsole/metrics.py) answers only clients from these addresses or networks
# (comma-separated; empty: none) or with `Authorization: Bearer <METRICS_BEARER_TOKEN>`.
METRICS_ALLOWED_IPS = [
    item.strip()
    for item in os.environ.get("METRICS_ALLOWED_IPS", "127.0.0.1,::1").split(",") if item.strip()
]
METRICS_BEARER_TOKEN = env("METRICS_BEARER_TOKEN")
