"""Celery: broker, worker reliability settings, periodic tasks."""

from pathlib import Path

from .env import DATABASE_URL, REDIS_URL, VAR_DIR, env

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        # An unacknowledged task is redelivered after this long; every time limit below
        # stays well inside it so a slow task is never run twice at once.
        "visibility_timeout": 3600,
    }
else:
    # A transport that needs no server: messages are files in var/broker, shared by the
    # web process and a real worker process.
    _broker_dir = Path(env.str("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "broker")))
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    import apiup.broker  # noqa: F401  # registers the transport's scheme

    CELERY_BROKER_URL = "apiupfs://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # else "control/" in the working dir
        "store_processed": False,
        # The transport polls its folder; the default second would dominate the latency.
        "polling_interval": 0.05,
    }

CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Enforced by the prefork pool only; under threads every task bounds itself (HTTP time-outs,
# rate-limit waits of at most max_rate_wait, import slices of SLICE_SECONDS, lock waits).
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A transfer spends nearly all its time waiting: for a vendor's answer, or for its turn on the
# tenant's rate limit. Threads let one process keep many transfers in flight where a process
# per task sat idle (P7 in docs/benchmarks.md: why threads, and the concurrency measured).
# Every thread holds a database connection of its own: worker processes x concurrency must
# fit PostgreSQL's max_connections next to the web processes'.
# The embedded default (SQLite, one writer at a time) keeps a process per task: sixteen threads
# writing one SQLite file wait on its lock instead of on the vendors.
CELERY_WORKER_POOL = env.str("CELERY_WORKER_POOL", default="threads" if DATABASE_URL else "prefork")
CELERY_WORKER_CONCURRENCY = env.int(
    "CELERY_WORKER_CONCURRENCY", default=16 if CELERY_WORKER_POOL == "threads" else 2
)
# Celery's Django fix-up closes the database connections before and after every task unless
# this is set, so each task opened a new one (a PostgreSQL backend started per task). Now it
# closes them every 2 x this many tasks; apiup/celery.py drops a thread's connection around a
# task when it is older than CONN_MAX_AGE or broken, as Django does around a request.
CELERY_DB_REUSE_MAX = 500
# The initial import runs for hours at a vendor's pace (10,000 contacts at 2 calls per second);
# it has a queue and a worker of its own, so that it never holds a worker the won deals need.
IMPORT_QUEUE = "imports"
CELERY_TASK_ROUTES = {"sync.run_import": {"queue": IMPORT_QUEUE}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
_RESUME_INTERVAL = env.float("TRANSFER_RESUME_INTERVAL_SECONDS", default=15.0)
_DISPATCH_INTERVAL = env.float("TRANSFER_DISPATCH_INTERVAL_SECONDS", default=1.0)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # A round that waited longer than the interval in a busy queue is dropped: the next
    # round does the same work.
    # The dispatcher's round (sync/services/dispatch.py) also follows every new transfer and
    # every finished one; this one brings the transfers whose turn or retry time has come.
    "dispatch-transfers": {
        "task": "sync.dispatch_transfers",
        "schedule": _DISPATCH_INTERVAL,
        "options": {"expires": _DISPATCH_INTERVAL},
    },
    "resume-due-transfers": {
        "task": "sync.resume_due_transfers",
        "schedule": _RESUME_INTERVAL,
        "options": {"expires": _RESUME_INTERVAL},
    },
    "resume-lost-events-and-imports": {
        "task": "sync.resume_lost_events_and_imports",
        "schedule": _RESUME_INTERVAL,
        "options": {"expires": _RESUME_INTERVAL},
    },
    "purge-expired-records": {"task": "sync.purge_expired_records", "schedule": 3600.0},
    "resume-stripe-events": {"task": "billing.resume_stripe_events", "schedule": 300.0},
    "send-notices": {"task": "sync.send_notices", "schedule": 300.0},
    # Subscriptions to the vendors' document events, and the polling of the others.
    "maintain-document-feeds": {"task": "sync.maintain_document_feeds", "schedule": 30.0},
}

PAYLOAD_RETENTION_DAYS = env.int("PAYLOAD_RETENTION_DAYS", default=30)
LOG_RETENTION_DAYS = env.int("LOG_RETENTION_DAYS", default=90)

# A worker holds a transfer this long; a worker that dies leaves the lease to expire, and the
# periodic resume task then runs the transfer again (it finds any quote already created).
TRANSFER_LEASE_SECONDS = env.int("TRANSFER_LEASE_SECONDS", default=300)
# The dispatcher keeps at most this many transfers in the workers' hands (handed out and not
# finished), one per tenant's account: about what the workers run at once, so that a transfer
# handed out does not wait in the queue behind others.
TRANSFER_DISPATCH_LIMIT = env.int("TRANSFER_DISPATCH_LIMIT", default=64)
# A handed-out transfer holds its account this long at most; a hand-out that was lost (a
# worker that died) frees the account after it.
TRANSFER_DISPATCH_HOLD_SECONDS = env.int("TRANSFER_DISPATCH_HOLD_SECONDS", default=15)
# A transfer with work left and no activity for this long is enqueued again.
TRANSFER_RESUME_AFTER_SECONDS = env.int("TRANSFER_RESUME_AFTER_SECONDS", default=30)
