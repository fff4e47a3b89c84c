"""One settings module, driven by environment variables.

Development defaults (DEBUG on, SQLite, ORM broker, console email) need nothing installed but Python.
Production: DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL; `manage.py check --deploy` is clean.
"""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.errors import CODES as ERROR_CODES

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
# The test suite (pytest) gets a per-process cache and fast hashers without any extra set-up.
TESTING = env_bool("TESTING", "pytest" in sys.modules)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-secret-key-never-used-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The public base URL used in webhook URLs and tracked links shown to users; unset, the local server's address
# on $PORT (bin/run's port).
PUBLIC_BASE_URL = (env("PUBLIC_BASE_URL") or f"http://127.0.0.1:{env('PORT') or '8000'}").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "django_q",
    "accounts",
    "cdp",
    "messaging",
    "coupons",
    "commerce",
    "omnilink",
    "audiences",
    "journeys",
    "analytics",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "accounts.middleware.RejectNulBytesMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.CurrentTeamMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.console",
                "core.replica.context",
            ],
            "builtins": ["accounts.templatetags.console"],
        },
    },
]

# Database: a SQLite file inside the project unless DATABASE_URL says otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(env("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and the worker share the file.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"].setdefault("TEST", {})["NAME"] = ""  # in-memory test database
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if IS_POSTGRES:
    # JIT compilation costs ~0.5 s per audience/analytics query at a million rows and buys nothing here.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"

# Read replica (core/replica.py): optional; views wrapped in reads_from_replica read there while it lags at most
# DATABASE_REPLICA_MAX_LAG_SECONDS. In tests it mirrors the default database (the standby replicates it).
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL")
DATABASE_REPLICA_MAX_LAG_SECONDS = float(env("DATABASE_REPLICA_MAX_LAG_SECONDS", "30"))
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"], conn_health_checks=True
    )
    DATABASES["replica"]["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {}), "connect_timeout": 3}
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware") + 1, "core.replica.ReplicaMiddleware"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6 behaviour now; silences the transitional warning

REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
elif TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    # Shared by the web server and the worker processes (throttling, worker heartbeat).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}}

# Background work: django-q2, Redis broker when REDIS_URL is set, the ORM broker otherwise.
Q_CLUSTER = {
    "name": env("Q_NAME", "socialcdp"),  # the queue's name: another name is another, separate set of queues
    "workers": int(env("Q_WORKERS", "2")),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 3,
    "queue_limit": 50,
    "bulk": 10,
    "catch_up": False,
    "poll": 0.5,
    "cache": "default",
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
if env_bool("Q_SYNC", False):
    Q_CLUSTER["sync"] = True
# A second cluster with its own queue for the heavy work (accounts/queues.py), so imports and rollups never sit in
# front of inbound messages and sends: `Q_CLUSTER_NAME=socialcdp-heavy manage.py qcluster`. Its tasks may run for
# many minutes (a 1,000,000-row import), so its timeout is long and its redelivery (retry) longer still.
Q_HEAVY_CLUSTER = f"{Q_CLUSTER['name']}-heavy"
Q_CLUSTER["ALT_CLUSTERS"] = {
    Q_HEAVY_CLUSTER: {
        "workers": int(env("Q_HEAVY_WORKERS", "2")),  # an import and a rollup side by side
        "timeout": int(env("Q_HEAVY_TIMEOUT", "3600")),
        "retry": int(env("Q_HEAVY_TIMEOUT", "3600")) + 300,
    }
}
HEAVY_TASKS = [
    "analytics.tasks.on_customer_events",
    "analytics.tasks.rebuild_team",
    "cdp.tasks.run_import",
    "cdp.tasks.resume_import",
    "cdp.tasks.resume_stalled_imports",
    "cdp.tasks.refresh_quota",
    "cdp.tasks.maintain_event_partitions",
    "journeys.tasks.refresh_rollups",
    "billing.tasks.send_due_monthly_bills",
    "cdp.tasks.on_bulk_tags",
]

# Consumers of new customer timeline events, called (team_id, [event ids]); see cdp/events.py and
# accounts/handoff.py (the hand-off rows are durable; a drain is hinted at most once per HANDOFF_HINT_SECONDS).
CUSTOMER_EVENT_CONSUMERS = [
    "analytics.tasks.on_customer_events",
    "journeys.tasks.on_customer_events",
    "coupons.tasks.on_customer_events",
]

# Consumers of system signals, called (team_id, kind, payload); see accounts/notify.py.
SIGNAL_CONSUMERS = [
    "journeys.tasks.on_signal",
]
# Inbound messages an app above messaging acts on (a WhatsApp catalog `order` → a draft order), called like signals.
INBOUND_MESSAGE_CONSUMERS = [
    "commerce.tasks.on_inbound_message",
]
# A console bulk tag action on more customers than a request should change (cdp.views.bulk): a durable hand-off
# row, so a worker that dies mid-way leaves it for the next drain or the per-minute backstop.
BULK_TAG_CONSUMERS = [
    "cdp.tasks.on_bulk_tags",
]
# Chat to Order (commerce): order links expire after this many days; Stripe's API base (a local fake in tests).
COMMERCE_ORDER_LINK_DAYS = int(env("COMMERCE_ORDER_LINK_DAYS", "7"))
COMMERCE_STRIPE_API_BASE = env("COMMERCE_STRIPE_API_BASE", "https://api.stripe.com")
COMMERCE_PAYMENT_HINT_SECONDS = float(env("COMMERCE_PAYMENT_HINT_SECONDS", "0.2"))
HANDOFF_HINT_SECONDS = float(env("HANDOFF_HINT_SECONDS", "0.5"))
# Event ids one consumer call may take (default accounts.handoff.CLAIM_EVENT_IDS, 10,000). Analytics refreshes whole
# days whatever the batch, so it takes an import's hand-offs together (one refresh of the day, not one per chunk).
HANDOFF_CLAIM_EVENT_IDS = {"analytics.tasks.on_customer_events": 300_000}
# /healthz reports a worker as behind when a hand-off row has waited longer than this (a cluster down, a backlog).
HANDOFF_STALE_SECONDS = int(env("HANDOFF_STALE_SECONDS", "300"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Sign-in throttling (accounts/throttle.py, counted in the shared cache): this many failures per account or per
# address, each less than the lockout apart, lock that account or address for LOGIN_LOCKOUT_SECONDS.
LOGIN_FAILURES_PER_ACCOUNT = int(env("LOGIN_FAILURES_PER_ACCOUNT", "5"))
LOGIN_FAILURES_PER_IP = int(env("LOGIN_FAILURES_PER_IP", "20"))
LOGIN_LOCKOUT_SECONDS = int(env("LOGIN_LOCKOUT_SECONDS", "900"))
# Password-reset links: this many requests per email or per address within the window, then none until it ends.
PASSWORD_RESETS_PER_EMAIL = int(env("PASSWORD_RESETS_PER_EMAIL", "3"))
PASSWORD_RESETS_PER_IP = int(env("PASSWORD_RESETS_PER_IP", "10"))
PASSWORD_RESET_WINDOW_SECONDS = int(env("PASSWORD_RESET_WINDOW_SECONDS", "3600"))

# Time is stored in UTC; each team has its own display zone.
TIME_ZONE = "UTC"
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "zh-hant"
LANGUAGES = [("zh-hant", "繁體中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Social CDP <no-reply@localhost>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api_auth.ApiKeyAuthentication",
        "accounts.api_auth.TeamSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.api_auth.IsTeamMember"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.DefaultCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["accounts.api_filters.TeamFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "accounts.api_base.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api_auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env("API_THROTTLE_RATE", "6000/min")},
    # Proxies in front of the app: the client address is the one they append to X-Forwarded-For (sign-in limits
    # per address). Production sits behind one TLS proxy (see SECURE_PROXY_SSL_HEADER).
    "NUM_PROXIES": int(env("NUM_PROXIES", "0" if DEBUG else "1")),
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies only (issue 22.9): a form body answers 415. Form parsers turned `null` and nested values into
    # strings the serializers never saw as such; no API endpoint takes a file (CSV imports are console uploads).
    "DEFAULT_PARSER_CLASSES": ["accounts.api_parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Social CDP API",
    "DESCRIPTION": "Team-scoped REST API. Authenticate with `Authorization: Bearer <API key>`. "
    'Every 4xx answers `{"error": {"code", "message", "fields"}}`. A refused operation\'s `code` is stable '
    "(`invalid` for a malformed field, otherwise one of: " + ", ".join(f"`{code}`" for code in ERROR_CODES) + ").",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # One name per choice set used by several serializers.
    "ENUM_NAME_OVERRIDES": {
        "BindingMethodEnum": "cdp.models.BindingMethod",
        "AttributeTypeEnum": "cdp.models.AttributeType",
        "EventRejectionCodeEnum": "cdp.serializers.REJECTION_CHOICES",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every handler carries the credential redaction filter (accounts.logging).
    "filters": {"redact_secrets": {"()": "accounts.logging.RedactSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # Django's own default handlers (console when DEBUG, mail_admins, django.server) are replaced: every line goes
    # through the one filtered handler above.
    "loggers": {
        "django": {"handlers": [], "level": "INFO"},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
    },
}

# Security: strict unless DEBUG. Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Channel secrets at rest (cdp.encryption): Fernet keys, comma-separated; the first encrypts, all decrypt.
# Unset: one key derived from SECRET_KEY. Rotate: put the new key first, run `manage.py rotate_channel_secrets`.
CHANNEL_SECRET_KEYS = [key.strip() for key in env("CHANNEL_SECRET_KEYS", "").split(",") if key.strip()]
# Webhook intake: a channel's verification material (secret, verify token, team, status) is cached per process
# for this long; a save or disable in the same process drops it at once.
MESSAGING_WEBHOOK_CHANNEL_CACHE_SECONDS = float(env("MESSAGING_WEBHOOK_CHANNEL_CACHE_SECONDS", "30"))

# Messaging platform API base URLs (tests point them at a local fake server).
MESSAGING_LINE_API_BASE = env("MESSAGING_LINE_API_BASE", "https://api.line.me")
MESSAGING_META_GRAPH_BASE = env("MESSAGING_META_GRAPH_BASE", "https://graph.facebook.com/v21.0")
MESSAGING_INSTAGRAM_API_BASE = env("MESSAGING_INSTAGRAM_API_BASE", "https://graph.instagram.com/v21.0")
MESSAGING_WHATSAPP_API_BASE = env("MESSAGING_WHATSAPP_API_BASE", "https://graph.facebook.com/v21.0")
MESSAGING_WECHAT_API_BASE = env("MESSAGING_WECHAT_API_BASE", "https://api.weixin.qq.com")
# A WeChat access token (valid 7200 s) is fetched again when it has less than this left.
MESSAGING_WECHAT_TOKEN_MARGIN_SECONDS = int(env("MESSAGING_WECHAT_TOKEN_MARGIN_SECONDS", "300"))
# SMS providers (messaging.adapters.sms).
MESSAGING_TWILIO_API_BASE = env("MESSAGING_TWILIO_API_BASE", "https://api.twilio.com")
MESSAGING_MITAKE_API_BASE = env("MESSAGING_MITAKE_API_BASE", "https://smsapi.mitake.com.tw")
# Channel budgets (messaging.services.budgets): LINE quota re-read before a batch when older than this; the
# "messaging: channel budgets" Schedule refreshes every channel every MESSAGING_BUDGET_REFRESH_MINUTES.
MESSAGING_LINE_QUOTA_MAX_AGE_SECONDS = int(env("MESSAGING_LINE_QUOTA_MAX_AGE_SECONDS", "60"))
MESSAGING_BUDGET_REFRESH_MINUTES = int(env("MESSAGING_BUDGET_REFRESH_MINUTES", "15"))
# Phone binding by SMS code (messaging.services.sms): lifetime, codes per contact / phone an hour, wrong tries.
MESSAGING_PHONE_CODE_MINUTES = int(env("MESSAGING_PHONE_CODE_MINUTES", "10"))
MESSAGING_PHONE_CODE_PER_HOUR = int(env("MESSAGING_PHONE_CODE_PER_HOUR", "5"))
MESSAGING_PHONE_CODE_ATTEMPTS = int(env("MESSAGING_PHONE_CODE_ATTEMPTS", "5"))
MESSAGING_PHONE_CODE_ATTEMPTS_PER_HOUR = int(env("MESSAGING_PHONE_CODE_ATTEMPTS_PER_HOUR", "10"))
# Outbox: how long a worker's claim on a message lasts before the sweeper hands it to another worker.
MESSAGING_CLAIM_SECONDS = int(env("MESSAGING_CLAIM_SECONDS", "120"))
MESSAGING_MAX_ATTEMPTS = int(env("MESSAGING_MAX_ATTEMPTS", "6"))
# Webhook intake: each web process enqueues at most one "drain webhook events" task per this many seconds.
MESSAGING_WEBHOOK_HINT_SECONDS = float(env("MESSAGING_WEBHOOK_HINT_SECONDS", "0.5"))
# Outbox: at most one "dispatch" hint per this many seconds per process (the due rows are the work).
MESSAGING_OUTBOX_HINT_SECONDS = float(env("MESSAGING_OUTBOX_HINT_SECONDS", "0.2"))

# The team's outbound webhook (accounts.outbound_webhooks). Loopback and private networks are refused unless
# OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS (tests, a local receiver); cloud metadata addresses are refused always.
OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS = env_bool("OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS", False)
# https is required unless DEBUG or OUTBOUND_WEBHOOK_ALLOW_HTTP (a local receiver).
OUTBOUND_WEBHOOK_ALLOW_HTTP = env_bool("OUTBOUND_WEBHOOK_ALLOW_HTTP", False)
OUTBOUND_WEBHOOK_TIMEOUT_SECONDS = float(env("OUTBOUND_WEBHOOK_TIMEOUT_SECONDS", "10"))
# The pooled HTTP client (core.httpclient) of the channel adapters and the outbound webhook: connect / read
# timeout of an adapter request, and connections kept alive per host for this many hosts, per process.
HTTP_CLIENT_TIMEOUT_SECONDS = float(env("HTTP_CLIENT_TIMEOUT_SECONDS", "10"))
HTTP_CLIENT_CONNECTIONS_PER_HOST = int(env("HTTP_CLIENT_CONNECTIONS_PER_HOST", "10"))
HTTP_CLIENT_HOSTS = int(env("HTTP_CLIENT_HOSTS", "50"))
OUTBOUND_WEBHOOK_MAX_ATTEMPTS = int(env("OUTBOUND_WEBHOOK_MAX_ATTEMPTS", "8"))

# Seams for apps above messaging (no import upward): inbound input handed to hooks inside webhook processing, and
# per-recipient button links of module types owned by such an app (OmniLink, issue 16).
MESSAGING_INBOUND_HOOKS = ["omnilink.matching.on_inbound"]
MESSAGING_PERSONAL_LINKS = {"omnilink_card": "omnilink.links.card_url"}
