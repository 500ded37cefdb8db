"""The service's own state: one SQLite file (``settings.state_path``), WAL, thread-safe.

Open it with ``Store.open(settings)`` (creates the data directory and, without
``PDSEARCH_SECRET_KEY``, a key file ``secret.key`` with mode 0600) or
``Store(path, secret_key, *, job_history=1000)`` (finished jobs kept per connector);
``close()`` when done (also a context manager). Schema migrations are named, ordered, applied on
open and recorded in ``schema_migrations`` (``applied_migrations()`` lists them).
``rotate_secrets() -> int`` re-encrypts every secret with the first key of a
``"<new>,<old>"`` secret key (see ``pdsearch.crypto``).

Connectors (``Connector`` never holds a secret; credentials are one Fernet-encrypted blob):
    create_connector(name, auth_type, region, credentials, base_url=None, oauth_base_url=None)
        -> Connector                      # ConflictError on a taken name (case-insensitive);
                                          # status "new", or "needs_authorization" for oauth2
                                          # without an access_token
    get_connector(id) -> Connector        # NotFoundError
    get_connector_by_name(name) -> Connector
    list_connectors(skip=0, limit=100) -> (list[Connector], total)       # oldest first
    update_connector(id, **changes) -> Connector
        # name, auth_type, region, base_url, oauth_base_url, status, subdomain, last_error
    set_status(id, status, *, subdomain=None, error=None) -> Connector   # last_error := error
    delete_connector(id)                  # cascades jobs, schedule, entities, OAuth states
    get_credentials(id) -> dict[str, str] # decrypted
    set_credentials(id, credentials)      # replaces
    update_credentials(id, **fields) -> dict[str, str]   # merges atomically; None removes

Jobs (``Job``; ``to_dict()`` with ISO 8601 UTC times and ``duration_seconds``):
    create_job(connector_id, trigger, status="queued", error=None) -> Job
        # trigger manual|scheduled; status "skipped" + error records a skipped scheduled run
    update_job(job_id, **fields) -> Job
        # status, counts, failures (capped at MAX_FAILURES), requests, error, progress,
        # started_at, finished_at; status running/finished stamps started_at/finished_at
    get_job(id) -> Job
    list_jobs(connector_id, skip=0, limit=100) -> (list[Job], total)     # newest first
    running_job(connector_id) -> Job | None                            # queued or running
    fail_interrupted_jobs(older_than=None, *, spare=None) -> int   # at start: queued/running
        # -> failed, with a reason; older_than (timedelta) spares jobs whose heartbeat is
        # recent, spare(job) -> True spares others (a live CLI sync)
    heartbeat(job) -> datetime            # (function) progress["updated_at"], else start/creation

Schedules (specs stored as given; ``pdsearch.scheduler`` validates):
    get_schedule(connector_id) -> dict | None
    set_schedule(connector_id, spec)      # {"interval_minutes": n} | {"cron": s} | {"run_at": iso}
    delete_schedule(connector_id) -> bool
    list_schedules() -> list[(connector_id, spec)]
    list_schedule_records() -> list[ScheduleRecord]  # + updated_at, last_fired_at
    get_schedule_record(connector_id) -> ScheduleRecord | None
    record_schedule_fired(connector_id, at=None)

Permission entities (``EntityRecord``; ``to_dict()`` -> entityId, name, type, userIds,
manualUserIds; e-mails lower-cased):
    replace_derived_entities(connector_id, entities)   # pdsearch.permissions.Entity objects;
        # manual members untouched; one transaction; an entity no longer derived stays only
        # while it has manual members
    list_entities(connector_id, skip=0, limit=100) -> (list[EntityRecord], total)
    get_entity(connector_id, entity_id) -> EntityRecord | None
    add_manual_members(connector_id, entity_id, emails) -> EntityRecord
        # entity must be derived already, or be the connector's subdomain (account entity
        # before the first sync); else NotFoundError. Bad e-mail -> InvalidValueError
    remove_manual_members(connector_id, entity_id, emails) -> EntityRecord
        # removes manual rows only: a derived member stays a member
    entities_for_user(email, connector_id=None) -> set[str]   # all connectors by default

OAuth states:
    create_oauth_state(connector_id, code_verifier, redirect_uri, ttl_seconds=600) -> str
    consume_oauth_state(state) -> (connector_id, code_verifier, redirect_uri) | None
        # single use; unknown, used or expired -> None

Errors: ``StoreError`` > ``NotFoundError``, ``ConflictError``, ``InvalidValueError`` (also a
ValueError). Messages are fit to show a person and never contain a secret.
"""

from pdsearch.permissions import normalize_email
from pdsearch.store.core import Store
from pdsearch.store.entities import EntityLike
from pdsearch.store.errors import ConflictError, InvalidValueError, NotFoundError, StoreError
from pdsearch.store.jobs import INTERRUPTED_ERROR, heartbeat
from pdsearch.store.records import (
    ACTIVE_JOB_STATUSES,
    AUTH_TYPES,
    CONNECTOR_STATUSES,
    COUNT_KEYS,
    FINISHED_JOB_STATUSES,
    JOB_STATUSES,
    JOB_TRIGGERS,
    MAX_FAILURES,
    REGIONS,
    Connector,
    EntityRecord,
    Job,
    ScheduleRecord,
    iso,
)

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "AUTH_TYPES",
    "CONNECTOR_STATUSES",
    "COUNT_KEYS",
    "FINISHED_JOB_STATUSES",
    "INTERRUPTED_ERROR",
    "JOB_STATUSES",
    "JOB_TRIGGERS",
    "MAX_FAILURES",
    "REGIONS",
    "ConflictError",
    "Connector",
    "EntityLike",
    "EntityRecord",
    "InvalidValueError",
    "Job",
    "NotFoundError",
    "ScheduleRecord",
    "Store",
    "StoreError",
    "heartbeat",
    "iso",
    "normalize_email",
]
