"""Rhythmic's one settings module, driven by environment variables.

Every value has an embedded default that needs nothing installed (SQLite in ``var/``, the in-memory
channel layer, Celery tasks run inline); production sets ``DATABASE_URL``, ``REDIS_URL`` and the secret key.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")  # optional; real environment variables win
VAR_DIR = Path(env.str("RHYTHMIC_VAR_DIR", default=str(BASE_DIR / "var")))

DEV_SECRET_KEY = "dev-insecure-rhythmic-key-do-not-use-in-production"  # noqa: S105 - the dev marker
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=True)


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` cannot sign production sessions and tokens, or None: the bar of Django's own check (W009)."""
    if key == DEV_SECRET_KEY:
        return "the development key is refused"
    if not key.strip():
        return "it is empty" if not key else "it is only whitespace"
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"a key starting {SECRET_KEY_INSECURE_PREFIX!r} is one Django generated for development"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"it has {len(key)} characters; at least {SECRET_KEY_MIN_LENGTH} are needed"
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"it has {len(set(key))} distinct characters; at least {SECRET_KEY_MIN_UNIQUE_CHARACTERS} are needed"
    return None


if not DEBUG and (problem := secret_key_problem(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"DJANGO_DEBUG=0 (production) needs a real DJANGO_SECRET_KEY: {problem}. "
        'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS: off by default (make run, make topology and the compose file serve plain HTTP) ---------------
# DJANGO_HTTPS=1: clients reach the site over HTTPS only; each setting it turns on has its own override.
HTTPS = env.bool("DJANGO_HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)  # a promise to browsers: opt in
# A proxy that terminates TLS says so in X-Forwarded-Proto (deploy/nginx.conf sets it). Trust it only behind
# such a proxy, which overwrites a client's own header; without it, HTTPS behind a proxy redirects forever.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "catalogue",
    "serving",
    "monitoring",
    "api",
    "dashboard",
]

MIDDLEWARE = [
    # First: refuses a body over its route's cap before anything reads it (api/limits.py).
    "api.limits.BodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "api.guards.RefuseNulMiddleware",  # a NUL in the path or query: 400 before any view or database query
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it turns a locked-out login into the lockout response
]

ROOT_URLCONF = "rhythmic.urls"
WSGI_APPLICATION = "rhythmic.wsgi.application"
ASGI_APPLICATION = "rhythmic.asgi.application"

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
            ],
        },
    },
]

# --- Database: DATABASE_URL unset -> SQLite in var/ -------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'rhythmic.sqlite3'}")}
_sqlite = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if _sqlite:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE transactions take the write lock up front, so concurrent writers queue instead of
    # failing with "database is locked"; WAL lets readers run beside the writer.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests on a file too, not in memory: an in-memory database shared between threads locks whole tables and
    # ignores the timeout, and monitoring's worker thread writes beside the request's.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-rhythmic.sqlite3")}
    # Django's backend, converting each statement's placeholders once, not at every execution, and quoting the
    # DEBUG record's parameters without a statement of its own (rhythmic/db/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "rhythmic.db.sqlite3"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool("DATABASE_POOL", default=False):
    # A connection pool per process, the default under ASGI (rhythmic/asgi.py). There Django runs each
    # request's sync code in a new thread, so a persistent per-thread connection (CONN_MAX_AGE) is never
    # reused and every request would open a connection of its own; the pool hands the same few connections
    # from thread to thread. A WSGI worker or a Celery process keeps one persistent connection instead,
    # which costs less per request than borrowing and checking a pooled one.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # required with a pool: closing returns the connection to it
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
if not _sqlite:
    # A connection is checked before a request uses it (with a pool: before the pool hands it out), so a
    # restarted database costs no failed request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, whose health check sends SELECT 1 only when the socket shows the server said something
    # (it closed the connection): not a round trip per request (rhythmic/db/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "rhythmic.db.postgresql"
    # The serving hot path's statements are prepared on the server (parsed and planned once per connection);
    # off behind a pooler in transaction mode that does not keep prepared statements.
    DATABASES["default"]["PREPARE"] = env.bool("DATABASE_PREPARE", default=True)
# Keep a connection per thread between requests (unless pooled): reopening SQLite runs the pragmas, and
# closing its last connection checkpoints the WAL; together they cost more than the queries of a predict.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery broker ---------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # The key prefix lets several deployments (or test runs) share one Redis without hearing each other.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("RHYTHMIC_CHANNEL_PREFIX", default="asgi")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# "throttle" holds throttle counts; Redis makes them shared by every server process. Checked tokens are kept in
# process memory by api/authentication.py itself: a Redis round trip per request would cost more than the queries
# it saves.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    CACHES["throttle"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("RHYTHMIC_CHANNEL_PREFIX", default="asgi") + ":throttle",
    }
else:
    CACHES["throttle"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# No broker -> tasks run inline in the process that queues them (the embedded default).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
if not CELERY_BROKER_URL and CELERY_TASK_ALWAYS_EAGER:
    # Celery takes a producer even for an inline task (to round-trip its arguments through the serializer):
    # with no URL, kombu builds one for amqp://localhost and warns "No hostname was supplied" on every task.
    # kombu's in-process transport is what "no broker" means here: nothing is sent, nothing is warned.
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Auth and the API -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed logins (the login page and the admin's) in the database and locks a
# (username, address) pair out for a cool-off: 429 with Retry-After.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("RHYTHMIC_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("RHYTHMIC_LOGIN_COOLOFF_SECONDS", default=900))
# "username+ip_address" locks a user out from one address only; "ip_address" locks the address for any user.
AXES_LOCKOUT_PARAMETERS = [
    combination.split("+") if "+" in combination else combination
    for combination in env.list("RHYTHMIC_LOGIN_LOCKOUT_BY", default=["username+ip_address"])
]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "api.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "dashboard.views.login_lockout"
AXES_VERBOSE = False
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    # One JSON parser (nesting limit, no NUL) for every DRF view; form fields get the same NUL check.
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser", "api.parsers.FormParser", "api.parsers.MultiPartParser"],
    "DEFAULT_METADATA_CLASS": "api.metadata.Metadata",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.ContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Rates come from the RHYTHMIC_THROTTLE_* settings below (api/throttling.py); failed tokens are
    # throttled in the token authentication itself.
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.AnonThrottle", "api.throttling.UserThrottle"],
}
# Throttles: "N/s", "N/min", "N/hour" or "N/day"; empty: no limit. Over the rate: 429 with Retry-After.
RHYTHMIC_THROTTLE_FAILED_AUTH = env.str("RHYTHMIC_THROTTLE_FAILED_AUTH", default="20/min")  # bad tokens per address
RHYTHMIC_THROTTLE_ANON = env.str("RHYTHMIC_THROTTLE_ANON", default="")  # API requests without credentials
RHYTHMIC_THROTTLE_USER = env.str("RHYTHMIC_THROTTLE_USER", default="")  # API requests per user
# Proxies in front of the server: the client address is then read from X-Forwarded-For (never otherwise).
RHYTHMIC_NUM_PROXIES = env.int("RHYTHMIC_NUM_PROXIES", default=0)
SPECTACULAR_SETTINGS = {
    "TITLE": "Rhythmic API",
    "DESCRIPTION": "Deploy online machine-learning models from a versioned catalogue.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two models have a "status" field, and two a "format": each enum gets its own name.
    "ENUM_NAME_OVERRIDES": {
        "VersionStatusEnum": "catalogue.models.ModelVersion.Status",
        "BacktestStatusEnum": "serving.models.Backtest.Status",
        "DatasetFormatEnum": "catalogue.models.Dataset.Format",
        "FormatEnum": "catalogue.models.ModelVersion.Format",
    },
}

# --- Limits -----------------------------------------------------------------------------------
RHYTHMIC_MAX_ARTIFACT_BYTES = env.int("RHYTHMIC_MAX_ARTIFACT_BYTES", default=64 * 1024 * 1024)
# The largest dataset file (CSV or JSON Lines) an upload may carry, or a learn-log dataset may write.
RHYTHMIC_MAX_DATASET_BYTES = env.int("RHYTHMIC_MAX_DATASET_BYTES", default=64 * 1024 * 1024)
# Every other request body (JSON): room for RHYTHMIC_MAX_BATCH items of ~4 KB each. Refused with 413 from
# its Content-Length (or once a chunked body passes it) before it is read: see api/limits.py.
RHYTHMIC_MAX_JSON_BYTES = env.int("RHYTHMIC_MAX_JSON_BYTES", default=4 * 1024 * 1024)
# A WebSocket message (a frame, or a fragmented message) over this closes the socket with 1009 (daphne).
RHYTHMIC_WS_MAX_FRAME_BYTES = env.int("RHYTHMIC_WS_MAX_FRAME_BYTES", default=4 * 1024 * 1024)
# Raw-body uploads are read whole: the same cap keeps a huge body from exhausting memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = RHYTHMIC_MAX_ARTIFACT_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
# JSON bodies and WebSocket frames nested deeper than this are refused (400, or an error frame) before parsing.
RHYTHMIC_MAX_JSON_DEPTH = env.int("RHYTHMIC_MAX_JSON_DEPTH", default=32)
# The largest ?limit= of a list route (the default page is PAGE_SIZE, 100).
RHYTHMIC_MAX_PAGE_SIZE = env.int("RHYTHMIC_MAX_PAGE_SIZE", default=1000)
RHYTHMIC_VALIDATION_EXAMPLES = env.int("RHYTHMIC_VALIDATION_EXAMPLES", default=50)

# --- Static files, i18n, logging --------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("RHYTHMIC_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Serving core -----------------------------------------------------------------------------
# How far behind the learn log a replica may answer (0: always catch up; a client sees its own learns).
RHYTHMIC_MAX_STALENESS_MS = env.int("RHYTHMIC_MAX_STALENESS_MS", default=0)
RHYTHMIC_CHECKPOINT_EVERY = env.int("RHYTHMIC_CHECKPOINT_EVERY", default=1000)
RHYTHMIC_CHECKPOINT_SECONDS = env.float("RHYTHMIC_CHECKPOINT_SECONDS", default=60.0)
RHYTHMIC_CHECKPOINTS_KEPT = env.int("RHYTHMIC_CHECKPOINTS_KEPT", default=3)
# Models whose replicas one process keeps in memory; past it the least recently used idle ones are evicted
# and reload (checkpoint + log tail) on their next call. 0: no limit.
RHYTHMIC_MAX_LOADED_MODELS = env.int("RHYTHMIC_MAX_LOADED_MODELS", default=0)
# The same as a memory budget (MiB) for those replicas, measured with pympler's asizeof when one loads and when it
# checkpoints (only while this is set: measuring walks the whole state). A model larger than it alone stays
# loaded while used (logged once). 0: no limit. Both set: each is enforced.
RHYTHMIC_MAX_LOADED_MB = env.float("RHYTHMIC_MAX_LOADED_MB", default=0.0)
# Learn-log entries a backtest reads per query: its memory bound, and how often it reports progress.
RHYTHMIC_BACKTEST_CHUNK = env.int("RHYTHMIC_BACKTEST_CHUNK", default=500)
# A running backtest with no heartbeat (one per chunk) for this long lost its runner: it is marked failed.
RHYTHMIC_BACKTEST_STALE_SECONDS = env.int("RHYTHMIC_BACKTEST_STALE_SECONDS", default=300)
# Dataset rows a training job learns between two progress reports (and cancel checks).
RHYTHMIC_TRAINING_CHUNK = env.int("RHYTHMIC_TRAINING_CHUNK", default=500)
# A running training job with no heartbeat (one per chunk) for this long lost its runner: it is marked failed.
RHYTHMIC_TRAINING_STALE_SECONDS = env.int("RHYTHMIC_TRAINING_STALE_SECONDS", default=300)
RHYTHMIC_PENDING_TTL = env.int("RHYTHMIC_PENDING_TTL", default=7 * 24 * 3600)  # seconds
RHYTHMIC_PENDING_SWEEP_SECONDS = env.int("RHYTHMIC_PENDING_SWEEP_SECONDS", default=600)
# Postgres: a predict(id) answers after its pending row is flushed to disk (on), or as soon as it is committed (off:
# a database crash may lose the last fraction of a second of pending rows; learns are always flushed, and flush
# every pending row committed before them).
RHYTHMIC_PENDING_SYNCHRONOUS_COMMIT = env.bool("RHYTHMIC_PENDING_SYNCHRONOUS_COMMIT", default=True)
# Pending predictions kept per model; past it the oldest expire first (0: no cap).
RHYTHMIC_MAX_PENDING = env.int("RHYTHMIC_MAX_PENDING", default=1_000_000)
# Learn-log retention: entries older than N days, or beyond the newest N of their model, are deleted once a
# checkpoint of their version covers them (0 turns a bound off; both 0: the log is kept whole).
RHYTHMIC_LOG_RETENTION_DAYS = env.int("RHYTHMIC_LOG_RETENTION_DAYS", default=30)
RHYTHMIC_LOG_RETENTION_ENTRIES = env.int("RHYTHMIC_LOG_RETENTION_ENTRIES", default=0)
# A process that learns prunes the log at most this often (Celery beat also prunes it hourly).
RHYTHMIC_LOG_PRUNE_SECONDS = env.int("RHYTHMIC_LOG_PRUNE_SECONDS", default=3600)
# river.drift detector run on each live version's error stream (ADWIN, KSWIN, PageHinkley, ...).
RHYTHMIC_DRIFT_DETECTOR = env.str("RHYTHMIC_DRIFT_DETECTOR", default="ADWIN")
# The location (serving pool) this process serves: predict and learn of models deployed elsewhere answer
# 421. Empty: every location (one pool).
RHYTHMIC_LOCATION = env.str("RHYTHMIC_LOCATION", default="")
# Production instances (serving.instances): every server process registers itself and beats this often; it is
# "lost" after INSTANCE_LOST_BEATS missed beats and its row is pruned INSTANCE_PRUNE_SECONDS after its last beat.
RHYTHMIC_REGISTER_INSTANCES = env.bool("RHYTHMIC_REGISTER_INSTANCES", default=True)
RHYTHMIC_HEARTBEAT_SECONDS = env.float("RHYTHMIC_HEARTBEAT_SECONDS", default=5.0)
RHYTHMIC_INSTANCE_LOST_BEATS = env.int("RHYTHMIC_INSTANCE_LOST_BEATS", default=3)
RHYTHMIC_INSTANCE_PRUNE_SECONDS = env.int("RHYTHMIC_INSTANCE_PRUNE_SECONDS", default=24 * 3600)
# How long a deploy waits for every live instance of its location to pre-load the version (a request may ask less).
RHYTHMIC_DEPLOY_TIMEOUT_SECONDS = env.float("RHYTHMIC_DEPLOY_TIMEOUT_SECONDS", default=60.0)
RHYTHMIC_MAX_BATCH = env.int("RHYTHMIC_MAX_BATCH", default=1000)
# Frames a streaming-inference WebSocket may have waiting for answers; more are answered "busy" at once.
RHYTHMIC_WS_MAX_INFLIGHT = env.int("RHYTHMIC_WS_MAX_INFLIGHT", default=64)
RHYTHMIC_PUBLIC_INFERENCE = env.bool("RHYTHMIC_PUBLIC_INFERENCE", default=False)
# The Django user manage.py commands record as author when no --user is given (catalogue.management.author).
RHYTHMIC_CLI_USER = env.str("RHYTHMIC_CLI_USER", default="")
# How long a process trusts a token (and its user's permissions) it has checked; 0 disables the cache.
RHYTHMIC_AUTH_CACHE_SECONDS = env.float("RHYTHMIC_AUTH_CACHE_SECONDS", default=5.0)
# Live events: per-model rate above which events are sampled, the in-memory queue bound, metric push interval.
RHYTHMIC_EVENTS_PER_SECOND = env.int("RHYTHMIC_EVENTS_PER_SECOND", default=200)
RHYTHMIC_EVENTS_QUEUE = env.int("RHYTHMIC_EVENTS_QUEUE", default=10_000)
RHYTHMIC_METRICS_PUSH_SECONDS = env.float("RHYTHMIC_METRICS_PUSH_SECONDS", default=0.5)
# Server-sent event streams send a comment line this often, so proxies and clients see the stream alive.
RHYTHMIC_SSE_HEARTBEAT_SECONDS = env.float("RHYTHMIC_SSE_HEARTBEAT_SECONDS", default=15.0)

# --- Monitoring -------------------------------------------------------------------------------
# Metric history: a snapshot per model at most every N s per process on learn (beat adds one when idle).
RHYTHMIC_SNAPSHOT_SECONDS = env.float("RHYTHMIC_SNAPSHOT_SECONDS", default=10.0)
RHYTHMIC_HISTORY_DAYS = env.int("RHYTHMIC_HISTORY_DAYS", default=30)  # older snapshots are pruned by beat
RHYTHMIC_HISTORY_MAX_POINTS = env.int("RHYTHMIC_HISTORY_MAX_POINTS", default=5000)  # per history response
# Alert rules are evaluated on learn at most every N s per model per process, on drift, and by beat.
RHYTHMIC_ALERT_EVAL_SECONDS = env.float("RHYTHMIC_ALERT_EVAL_SECONDS", default=10.0)
# Promotion policies are evaluated once per N learns of a model per process (on monitoring's worker thread,
# through a Celery task where a broker exists), and by beat.
RHYTHMIC_POLICY_EVAL_LEARNS = env.int("RHYTHMIC_POLICY_EVAL_LEARNS", default=100)
RHYTHMIC_WEBHOOK_TIMEOUT = env.float("RHYTHMIC_WEBHOOK_TIMEOUT", default=5.0)
# A failed delivery is retried this many times, after about BACKOFF, 2*BACKOFF, 4*BACKOFF... seconds (jittered;
# at least 1 s, at most 600 s; read when the worker starts).
RHYTHMIC_WEBHOOK_MAX_RETRIES = env.int("RHYTHMIC_WEBHOOK_MAX_RETRIES", default=5)
RHYTHMIC_WEBHOOK_RETRY_BACKOFF = env.float("RHYTHMIC_WEBHOOK_RETRY_BACKOFF", default=2.0)
# Empty: /metrics is open (Prometheus scrapes without auth); set: it needs "Authorization: Bearer <token>".
RHYTHMIC_METRICS_TOKEN = env.str("RHYTHMIC_METRICS_TOKEN", default="")
CELERY_BEAT_SCHEDULE = {
    "expire-pending-predictions": {"task": "catalogue.expire_pending", "schedule": 3600.0},
    "prune-learn-log": {"task": "catalogue.prune_log", "schedule": 3600.0},
    "recover-stale-backtests": {"task": "serving.recover_backtests", "schedule": 60.0},
    "recover-stale-training-jobs": {"task": "serving.recover_training", "schedule": 60.0},
    "monitoring-snapshot-models": {"task": "monitoring.snapshot_models", "schedule": 60.0},
    "monitoring-evaluate-alerts": {"task": "monitoring.evaluate_alerts", "schedule": 30.0},
    "monitoring-evaluate-policies": {"task": "monitoring.evaluate_policies", "schedule": 60.0},
    "monitoring-prune-history": {"task": "monitoring.prune_history", "schedule": 24 * 3600.0},
}
