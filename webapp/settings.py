"""Django settings, all from environment variables.

The defaults run on one machine with nothing installed: SQLite, media files on local disk and an
embedded Celery broker kept in folders (kombu's filesystem transport), all under `var/`.
Production is a matter of environment variables (see README "Production"):

    DATABASE_URL=postgres://...         PostgreSQL (needs the `postgres` extra)
    CELERY_BROKER_URL=redis://...       Redis broker (needs the `redis` extra)
    S3_BUCKET=... S3_ENDPOINT_URL=...   S3-compatible media storage (needs the `s3` extra)
    DJANGO_SECRET_KEY=... DJANGO_ALLOWED_HOSTS=...

Production is also the default mode: a secret key and HTTPS are required unless DJANGO_ENV=dev
(which `make demo` and the tests set), and DEBUG is off unless DJANGO_DEBUG=true in dev mode.
A bad value fails loudly at start with ImproperlyConfigured rather than running half-configured.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).strip().lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# Everything the embedded defaults write (database, media, broker folders, checkpoints).
VAR_DIR = Path(env_str("SAM_VAR_DIR", str(BASE_DIR / "var"))).resolve()

# `production` (the default) demands a real secret key and HTTPS; `dev` (the demo, the tests, a
# developer's machine) runs on plain HTTP with a fixed key. Production is the default so that a
# deployment that forgets a variable fails at start instead of running with a public key.
DJANGO_ENV = env_str("DJANGO_ENV", "production")
if DJANGO_ENV not in {"production", "dev"}:
    raise ImproperlyConfigured(f"DJANGO_ENV={DJANGO_ENV!r} is not production or dev")
DEV = DJANGO_ENV == "dev"
# Off by default, even in dev mode: Django's debug pages show the traceback, the settings and
# the request's environment (runserver puts the whole process environment there), so they are
# something a developer asks for, never something a demo shows a visitor.
DEBUG = env_bool("DJANGO_DEBUG", False)
if DEBUG and not DEV:
    raise ImproperlyConfigured("DJANGO_DEBUG=true is for development only (DJANGO_ENV=dev)")
# Even then, the debug pages mask passwords in URLs (DATABASE_URL, CELERY_BROKER_URL, ...).
DEFAULT_EXCEPTION_REPORTER_FILTER = "webapp.debug.SecretMaskingFilter"
DEFAULT_EXCEPTION_REPORTER = "webapp.debug.ExceptionReporter"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEV:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set in production (or DJANGO_ENV=dev for development)"
        )
    SECRET_KEY = "insecure-development-key-only-for-the-demo-and-tests"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
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
    # Swagger UI's files, served by the app (a CDN would run unpinned script on our origin).
    "drf_spectacular_sidecar",
    "annotator",
]

MIDDLEWARE = [
    # First, so that it also wraps the static files WhiteNoise answers (the decoder worker and
    # the onnxruntime-web WASM must be served cross-origin isolated too).
    "webapp.middleware.CrossOriginIsolationMiddleware",
    "webapp.middleware.ContentSecurityPolicyMiddleware",
    # Inside the two above, so its JSON answers carry their headers too.
    "webapp.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "webapp.throttle.LoginThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker are separate processes writing one SQLite file:
    # wait for the lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    # Write-ahead logging: a reader (the web server, a worker's sweep) no longer blocks a
    # writer's commit, nor a writer the readers; with the demo's three processes (web, worker,
    # atlas worker) on one file, the rollback journal's locks made writers wait past the timeout.
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL;"
    # A deferred transaction that reads and then writes (an upload checks for a duplicate, then
    # inserts) cannot wait for the write lock: SQLite answers "database is locked" at once when
    # another process committed in between. IMMEDIATE takes the write lock at BEGIN, where the
    # timeout above applies.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    # Tests share a file database with the worker processes they start.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------------------------
# Login throttling and the cached worker health check count across processes, which Django's
# default (memory of one process) does not: files in var/ for one machine, Redis for several.
CACHE_URL = env_str("CACHE_URL", f"file://{VAR_DIR / 'cache'}")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
elif CACHE_URL.startswith("file://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache"}}
    CACHE_URL = CACHE_URL.removeprefix("file://")
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r} is not a file:// or redis:// URL")
CACHES["default"]["LOCATION"] = CACHE_URL

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins per username and client address: this many within the window, and the login
# pages answer 429 with Retry-After until the window ends; a successful login resets it.
LOGIN_THROTTLE_FAILURES = env_int("LOGIN_THROTTLE_FAILURES", 5, minimum=1)
LOGIN_THROTTLE_SECONDS = env_int("LOGIN_THROTTLE_SECONDS", 900, minimum=1)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (the built frontend) and media (uploaded images, embeddings) ---------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [("app", FRONTEND_DIST)]
# Without collectstatic (the demo, the tests), WhiteNoise serves straight from the finders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEV

MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()

S3_BUCKET = env_str("S3_BUCKET", "")
STORAGES: dict[str, dict[str, object]] = {
    # Django's FileSystemStorage writes in place: a full disk leaves a truncated file under the
    # real name. This one writes beside it and links the file into place once complete.
    "default": {"BACKEND": "annotator.storage.AtomicFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("S3_REGION", "") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY", "") or None,
            "location": env_str("S3_PREFIX", ""),
            "default_acl": None,
            "file_overwrite": False,
            # Media leave through the API's permission checks, never as public bucket URLs.
            "querystring_auth": True,
        },
    }

# Uploads: a decompression bomb is refused above this many pixels (PIL's own guard is raised
# to this limit and turned into a 400 by the upload service).
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 100_000_000, minimum=1)
IMAGE_MAX_UPLOAD_BYTES = env_int("IMAGE_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
# Django's temporary-file handler names the file after the client's extension, which can be
# longer than the file system allows, and both cut long names silently
# (annotator/api/upload_handlers.py).
FILE_UPLOAD_HANDLERS = [
    "annotator.api.upload_handlers.NamedMemoryFileUploadHandler",
    "annotator.api.upload_handlers.BoundedTemporaryFileUploadHandler",
]

# --- SAM --------------------------------------------------------------------------------------
# A known name (sam_vit_b, sam_vit_l, sam_vit_h, mobile_sam), downloaded into SAM_CACHE_DIR on
# first use, or a path to a checkpoint file. MobileSAM is the default because it embeds an
# image in about 1.4 s on a 2-core CPU, against about 10 s for ViT-B.
SAM_CHECKPOINT = env_str("SAM_CHECKPOINT", "mobile_sam")
SAM_MODEL_TYPE = env_str("SAM_MODEL_TYPE", "auto")
if SAM_MODEL_TYPE not in {"auto", "vit_b", "vit_l", "vit_h", "mobile_sam"}:
    raise ImproperlyConfigured(f"SAM_MODEL_TYPE={SAM_MODEL_TYPE!r} is not a known SAM type")
SAM_CACHE_DIR = Path(env_str("SAM_CACHE_DIR", str(VAR_DIR / "checkpoints"))).resolve()
# The model package (no Django) reads its cache folder from the environment; exporting it here
# makes the web process, the workers it starts and the CLIs agree on one folder.
os.environ["SAM_CACHE_DIR"] = str(SAM_CACHE_DIR)
# Empty: CUDA when available, else CPU.
SAM_DEVICE = env_str("SAM_DEVICE", "")
# Allow downloading official checkpoints on first use (off for air-gapped installs).
SAM_ALLOW_DOWNLOAD = env_bool("SAM_ALLOW_DOWNLOAD", True)
# A local cache of exported ONNX decoders, one folder per checkpoint sha256: the exporting
# worker builds here, the predict endpoint fetches into it. Never shared between machines: the
# export itself lives in the media storage (annotator/services/decoder_files.py).
SAM_ONNX_DIR = Path(env_str("SAM_ONNX_DIR", str(VAR_DIR / "onnx"))).resolve()
SAM_EMBEDDING_BATCH_SIZE = env_int("SAM_EMBEDDING_BATCH_SIZE", 4, minimum=1)

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
_QUIET_LOGGERS: dict[str, dict[str, str]] = {}
CELERY_BROKER_DIR = VAR_DIR / "celery"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files in a folder that every process on this machine
    # shares, so the demo needs no Redis or RabbitMQ server.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
    # The folder transport has no host; kombu warns about that on every connection.
    _QUIET_LOGGERS = {"kombu.connection": {"level": "ERROR"}}
    for folder in ("queue", "control"):
        (CELERY_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", f"file://{CELERY_BROKER_DIR / 'results'}")
if CELERY_RESULT_BACKEND.startswith("file://"):
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Embeddings need the model (and a GPU in production): only workers started with `-Q gpu`
# take them, so web-facing workers never load torch. Another name keeps two installations
# that share a broker (or the fault tests' workers) apart.
SAM_EMBEDDING_QUEUE = env_str("SAM_EMBEDDING_QUEUE", "gpu")
# Hover atlases computed after the embedding on a CPU worker (annotator/services/atlases.py):
# minutes of decoder work per image there, so they have a queue of their own that only a worker
# that opts in consumes (`-Q atlas`; the demo starts one at the lowest CPU priority), and never
# delay an embedding or a job. Empty: no CPU atlases are enqueued (GPU workers still compute
# theirs in the embedding's batch; `manage.py embeddings --atlas --sync` computes them here).
SAM_ATLAS_QUEUE = env_str("SAM_ATLAS_QUEUE", "atlas")
# Grid cells along the longest side: 32 in a CUDA batch; fewer on CPU, where the cost is
# grid squared decoder calls (bench/RESULTS.md, "Hover atlas: cost on CPU").
SAM_ATLAS_GRID_CUDA = env_int("SAM_ATLAS_GRID_CUDA", 32, minimum=1)
SAM_ATLAS_GRID_CPU = env_int("SAM_ATLAS_GRID_CPU", 16, minimum=1)
# Torch threads an atlas task may use on CPU (0: torch's default): one leaves the other cores
# to the embeddings and jobs of workers on the same machine.
SAM_ATLAS_THREADS = env_int("SAM_ATLAS_THREADS", 1)
CELERY_TASK_ROUTES = {
    "annotator.tasks.embedding_*": {"queue": SAM_EMBEDDING_QUEUE},
    "annotator.tasks.atlas_*": {"queue": SAM_ATLAS_QUEUE or "atlas"},
}
# A task is acknowledged after it finished, and requeued if its worker dies mid-task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request that enqueues must answer within seconds when the broker is down or hangs
# (the API then says 503 with Retry-After): bounded connect and socket timeouts, and one quick
# retry of a publish (enough to replace a pooled connection that went stale when Redis
# restarted). Kombu's defaults wait forever on a broker that accepts but does not answer.
CELERY_BROKER_TIMEOUT = env_int("CELERY_BROKER_TIMEOUT", 2, minimum=1)
CELERY_BROKER_CONNECTION_TIMEOUT = CELERY_BROKER_TIMEOUT
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "sentinel://")):
    # socket_timeout stays above kombu's 1 s BRPOP timeout, which a worker waits on normally.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": CELERY_BROKER_TIMEOUT,
        "socket_timeout": CELERY_BROKER_TIMEOUT,
    }
if CELERY_RESULT_BACKEND.startswith(("redis://", "rediss://")):
    # Only /healthz?worker=1 waits on results; the defaults retry a dead result store for 20 s.
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = CELERY_BROKER_TIMEOUT
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
        "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
    }
# A worker holding running embeddings renews their lease every third of this; a row whose
# lease ran out (its worker was killed, OOM, lost its node) is taken back by any worker.
EMBEDDING_LEASE_SECONDS = env_int("EMBEDDING_LEASE_SECONDS", 60, minimum=1)
# How often each worker sweeps for such rows, and for pending rows that no queued task covers
# (enqueued while the broker was down). Each worker also sweeps once when it starts.
EMBEDDING_SWEEP_SECONDS = env_int("EMBEDDING_SWEEP_SECONDS", 30, minimum=1)
# /healthz?worker=1 sends a task through a worker at most once per this many seconds (one at a
# time, across processes, through the cache); calls in between get the last answer.
HEALTH_WORKER_CACHE_SECONDS = env_int("HEALTH_WORKER_CACHE_SECONDS", 15, minimum=1)

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # LimitOffsetPagination with the limit capped (an uncapped ?limit=10**30 reached the
    # database).
    "DEFAULT_PAGINATION_CLASS": "annotator.api.pagination.Pagination",
    "PAGE_SIZE": 100,
    # DRF's parsers, with JSON nested past the recursion limit answered 400 instead of 500.
    "DEFAULT_PARSER_CLASSES": [
        "annotator.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Errors leave the API as {"detail": ...} with the status the service chose (409, 423, ...).
    "EXCEPTION_HANDLER": "annotator.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SAM Annotator API",
    "DESCRIPTION": "Projects, images, SAM embeddings, annotations and exports.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Images, embeddings and jobs each have a `status` with its own choices: one enum name each.
    "ENUM_NAME_OVERRIDES": {
        "ImageStatusEnum": "annotator.models.Image.Status",
        "EmbeddingStatusEnum": "annotator.models.Embedding.Status",
        "JobStatusEnum": "annotator.models.Job.Status",
        # Jobs, annotations (mask or box) and labels (object or image tag) each have a `kind`.
        "JobKindEnum": "annotator.models.Job.Kind",
        "AnnotationKindEnum": "annotator.models.Annotation.Kind",
        "LabelKindEnum": "annotator.models.Label.Kind",
    },
}

# --- Security (production) --------------------------------------------------------------------
# `manage.py check --deploy --fail-level WARNING` passes in production mode with the defaults
# below (tests/security/test_deploy_check.py). Each knob is there for a deployment that differs,
# not to switch protection off by habit.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# The page reads the CSRF token from its cookie (frontend/src/ui/api.js), so script must see it.
CSRF_COOKIE_HTTPONLY = False
# A Content-Security-Policy on every response: webapp/middleware.py says which and why.
if not DEV:
    # Django's own test of a usable key (security.W009), as an error at start: a short or
    # generated-looking key makes sessions, password resets and signed values forgeable.
    if (
        len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
        or SECRET_KEY.startswith("django-insecure-")
    ):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be at least 50 random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    # Cookies only over HTTPS (false only for a closed network without TLS).
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers probe the web process over plain HTTP; the health answer reveals nothing.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    # Behind a TLS-terminating proxy, which must set (not pass on) X-Forwarded-Proto. When
    # gunicorn faces clients itself, set this false: a client could otherwise claim HTTPS.
    if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, **_QUIET_LOGGERS},
}

# --- Backend (issue 5) ------------------------------------------------------------------------
# How long an image's edit lock lasts without being renewed (the page renews it while open).
IMAGE_LOCK_SECONDS = env_int("IMAGE_LOCK_SECONDS", 600, minimum=1)
# An embedding that fails is retried this many times in all before it stays `failed`.
EMBEDDING_MAX_ATTEMPTS = env_int("EMBEDDING_MAX_ATTEMPTS", 3, minimum=1)
# Seconds before a failed embedding is retried (doubled on each attempt).
EMBEDDING_RETRY_DELAY = env_int("EMBEDDING_RETRY_DELAY", 5, minimum=0)
# Random prompts with which the worker verifies a fresh ONNX export against PyTorch (once per
# model; each costs about a second on CPU).
SAM_ONNX_VERIFY_PROMPTS = env_int("SAM_ONNX_VERIFY_PROMPTS", 10, minimum=1)
# A zip upload may expand to at most this many bytes in all (each entry is also held to
# IMAGE_MAX_UPLOAD_BYTES); a zip bomb is refused from its central directory.
IMAGE_MAX_ZIP_BYTES = env_int("IMAGE_MAX_ZIP_BYTES", 2 * 1024**3, minimum=1)
# Detectors that auto-annotation jobs may use, by name: "name=/path/model.onnx,other=yolo11x.pt"
# (on the workers). Jobs name one of these; a path never comes from an API caller.
AUTO_ANNOTATE_DETECTORS: dict[str, str] = {}
for _item in env_list("AUTO_ANNOTATE_DETECTORS", ""):
    _name, _sep, _path = _item.partition("=")
    if not _sep or not _name.strip() or not _path.strip():
        raise ImproperlyConfigured(f"AUTO_ANNOTATE_DETECTORS entry {_item!r} is not name=path")
    AUTO_ANNOTATE_DETECTORS[_name.strip()] = _path.strip()

# --- Text prompts (annotator/text, the `text` extra on the workers) -------------------------
# Each a Hugging Face model id, read from the workers' local Hugging Face cache (HF_HUB_CACHE,
# else HF_HOME/hub, else ~/.cache/huggingface/hub; never downloaded at run time), or a folder
# written by save_pretrained. SAM3_MODEL segments phrases itself; TEXT_DETECTOR (OWLv2 or
# Grounding DINO) finds boxes that the project's SAM turns into masks. The workers report which
# they can load (annotator/services/text_status.py); the web process never opens them.
SAM3_MODEL = env_str("SAM3_MODEL", "facebook/sam3").strip()
TEXT_DETECTOR = env_str("TEXT_DETECTOR", "google/owlv2-base-patch16-ensemble").strip()
for _name, _value in (("SAM3_MODEL", SAM3_MODEL), ("TEXT_DETECTOR", TEXT_DETECTOR)):
    if not _value:
        raise ImproperlyConfigured(f"{_name} is empty: a Hugging Face model id or a folder")

# --- Who may spend what ("Hardening, round two", 4 and 5; README "Security") ---------------
# Who may create projects (and so become an owner who queues work on the shared workers):
# `everyone` (the default: accounts exist only when an administrator creates them, there is
# no sign-up, and the quotas below bound what any one account can spend) or `staff`.
PROJECT_CREATORS = env_choice("PROJECT_CREATORS", "everyone", ("everyone", "staff"))
# Who a project's manager can find when adding a member by username or e-mail: `shared` (the
# default: people who already share a project with them; staff see everyone) or `all`.
# Anyone else answers like a name nobody has, so the answers do not reveal who has an account.
MEMBER_DIRECTORY = env_choice("MEMBER_DIRECTORY", "shared", ("shared", "all"))
# Checkpoints anyone creating a project may pick, besides SAM_CHECKPOINT and checkpoints an
# administrator registered in the admin; staff may pick any known one. The heavy ones (vit_l,
# vit_h: 1.2 and 2.5 GB, the slowest on a shared worker) are an administrator's decision. SAM 2.1
# tiny (156 MB, a Hiera encoder cheaper than ViT-B) is offered too.
SAM_CHECKPOINTS_OFFERED = env_list(
    "SAM_CHECKPOINTS_OFFERED", "mobile_sam,sam_vit_b,sam2.1_hiera_tiny.pt"
)
# Quotas; 0 turns one off. A project holds at most QUOTA_PROJECT_IMAGES images and
# QUOTA_PROJECT_BYTES bytes of stored (normalised) image files; an upload that would pass
# either is refused whole (413).
QUOTA_PROJECT_IMAGES = env_int("QUOTA_PROJECT_IMAGES", 50_000)
QUOTA_PROJECT_BYTES = env_int("QUOTA_PROJECT_BYTES", 20 * 1024**3)
# Jobs waiting or running at once, per user and per project: one more is refused with 429 and
# Retry-After until one finishes.
QUOTA_USER_QUEUED_JOBS = env_int("QUOTA_USER_QUEUED_JOBS", 5)
QUOTA_PROJECT_QUEUED_JOBS = env_int("QUOTA_PROJECT_QUEUED_JOBS", 10)
# Seconds a 429 for queued jobs asks the client to wait (a job takes minutes, not seconds).
QUOTA_RETRY_AFTER = env_int("QUOTA_RETRY_AFTER", 60, minimum=1)
# What one job may ask for: inline auto-annotation boxes in all, and everything mode's prompts
# per image (points_per_side squared, times the crops: 1 + 4 + 16 ... per crop layer; the
# heaviest allowed values would be 1.4 million; SAM's own default is 32 x 32 = 1024).
JOB_MAX_INLINE_BOXES = env_int("JOB_MAX_INLINE_BOXES", 10_000, minimum=1)
JOB_MAX_EVERYTHING_PROMPTS = env_int("JOB_MAX_EVERYTHING_PROMPTS", 32_768, minimum=1)

# --- Metrics (annotator/metrics.py) -----------------------------------------------------------
# Prometheus scrapes /metrics with `Authorization: Bearer <METRICS_TOKEN>`; empty: only staff
# sessions may read it. A short token would be guessable, and the answer describes the site.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 32 characters (or empty)")
# Several gunicorn processes share their request metrics through files in this folder
# (prometheus-client's multiprocess mode, which reads the variable itself); empty: one process.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# Outermost, so that the requests WhiteNoise answers (static files) are timed too.
MIDDLEWARE.insert(0, "annotator.metrics.RequestLatencyMiddleware")
