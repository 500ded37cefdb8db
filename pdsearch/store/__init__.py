"""The service's own state: repositories over one database, SQLite (default) or PostgreSQL.

Open it with ``Store.open(settings)``: PostgreSQL when ``settings.database_url``
(``PDSEARCH_DATABASE_URL=postgresql://user:password@host:port/db``) is set, else the SQLite file
``<home>/state.db``; it creates the data directory and, without ``PDSEARCH_SECRET_KEY``, a key
file ``secret.key`` (mode 0600). Or ``Store(location, secret_key, *, job_history=1000)`` with a
file path or a URL. ``close()`` when done (also a context manager). The schema is migrated on
open (Alembic, one history for both engines; ``pdsearch/store/migrations``); files of earlier
versions upgrade in place. ``applied_migrations()`` lists the applied revisions,
``rotate_secrets() -> int`` re-encrypts every secret with the first key of a ``"<new>,<old>"``
secret key (see ``pdsearch.crypto``). ``location`` (password masked), ``dialect``, ``path``.

Each part of the state is a repository on the store; a caller takes the one it needs:

store.connectors (``Connector`` never holds a secret; credentials are one Fernet-encrypted blob):
    create(name, auth_type, region, credentials, base_url=None, oauth_base_url=None)
        -> Connector                      # ConflictError on a taken name (case-insensitive);
                                          # status "new", or "needs_authorization" for oauth2
                                          # without an access_token
    get(id) -> Connector                  # NotFoundError
    get_by_name(name) -> Connector
    list(skip=0, limit=100) -> (list[Connector], total)                # oldest first
    update(id, **changes) -> Connector
        # name, auth_type, region, base_url, oauth_base_url, status, subdomain, last_error
    set_status(id, status, *, subdomain=None, error=None) -> Connector   # last_error := error
    delete(id)                            # cascades jobs, schedule, entities, OAuth states
    get_credentials(id) -> dict[str, str] # decrypted
    set_credentials(id, credentials)      # replaces
    update_credentials(id, **fields) -> dict[str, str]   # merges atomically; None removes

store.jobs (``Job``; ``to_dict()`` with ISO 8601 UTC times and ``duration_seconds``):
    create(connector_id, trigger, status="queued", error=None) -> Job
        # trigger manual|scheduled; status "skipped" + error records a skipped scheduled run.
        # A queued/running job claims the connector: while one exists, in any process or
        # replica, creating another raises ConflictError (a unique index, on both engines)
    update(job_id, **fields) -> Job
        # status, counts, failures (capped at MAX_FAILURES), requests, error, progress,
        # started_at, finished_at; status running/finished stamps started_at/finished_at
    get(id) -> Job
    list(connector_id, skip=0, limit=100) -> (list[Job], total)         # newest first
    running(connector_id) -> Job | None                                  # queued or running
    fail_interrupted(older_than=None, *, spare=None) -> int   # at start: queued/running
        # -> failed, with a reason; older_than (timedelta) spares jobs whose heartbeat is
        # recent, spare(job) -> True spares others (a live CLI sync)
    request_cancel(job_id) -> bool        # from any replica; False once finished
    cancel_requested(job_id) -> bool      # what the running sync polls (``Job.cancel_requested``)
    heartbeat(job) -> datetime            # (function) progress["updated_at"], else start/creation

store.schedules (specs stored as given; ``pdsearch.scheduler`` validates; one per connector
and mode, ``mode`` full (the default) or incremental):
    get(connector_id, mode="full") -> dict | None
    set(connector_id, spec, *, mode="full", at=None)
        # {"interval_minutes": n} | {"cron": s} | {"run_at": iso}; forgets last_fired_at
    delete(connector_id, mode="full") -> bool
    delete_all(connector_id) -> int
    list() -> list[(connector_id, mode, spec)]
    list_records(connector_id=None) -> list[ScheduleRecord]  # + updated_at, last_fired_at, mode
    get_record(connector_id, mode="full") -> ScheduleRecord | None
    record_fired(connector_id, at=None, *, mode="full")
    claim(record, at, *, lease=None) -> bool
        # compare-and-set of last_fired_at (from the record's to ``at``), only while the lease
        # (name, holder) is held: one firing happens once, whichever scheduler tries

store.entities (``EntityRecord``; ``to_dict()`` -> entityId, name, type, userIds,
manualUserIds; e-mails lower-cased):
    replace_derived(connector_id, entities)   # pdsearch.permissions.Entity objects;
        # manual members untouched; one transaction; an entity no longer derived stays only
        # while it has manual members
    list(connector_id, skip=0, limit=100) -> (list[EntityRecord], total)
    get(connector_id, entity_id) -> EntityRecord | None
    add_manual_members(connector_id, entity_id, emails) -> EntityRecord
        # entity must be derived already, or be the connector's subdomain (account entity
        # before the first sync); else NotFoundError. Bad e-mail -> InvalidValueError
    remove_manual_members(connector_id, entity_id, emails) -> EntityRecord
        # removes manual rows only: a derived member stays a member
    for_user(email, connector_id) -> set[str]   # the user's entity ids in one connector
    memberships(email) -> set[(connector_id, entity_id)]  # every connector's, as pairs

store.sync_state (incremental sync: ``SyncState``, ``Cursor``; see ``sync_state.py``):
    get(connector_id) -> SyncState        # audit_cursor, seen_records, incremental_available,
                                          # incremental_reason; empty before the first sync
    set_availability(connector_id, available, reason)   # unavailable forgets the cursor
    save_full(connector_id, objects, cursor | None)     # objects: kind -> id -> JSON
    save_changes(connector_id, changed, removed, cursor)
    objects(connector_id) -> kind -> id -> JSON
    forget(connector_id)                  # no cursor, no objects: the next sync is full

store.oauth (OAuth states, in the database so any replica can answer the callback):
    create_state(connector_id, code_verifier, redirect_uri, ttl_seconds=600) -> str
    consume_state(state) -> (connector_id, code_verifier, redirect_uri) | None
        # single use; unknown, used or expired -> None

store.tickets (single-use links, e.g. the OAuth authorize link a browser follows):
    issue(purpose, ttl_seconds=300) -> str
    redeem(purpose, ticket) -> bool       # True once; wrong purpose, used or expired -> False

store.leases (one holder at a time by the database's clock; the scheduler's leader):
    acquire(name, holder, ttl_seconds) -> bool   # free, expired or already holder's
    renew(name, holder, ttl_seconds) -> bool     # False: lost it, stop acting as leader
    release(name, holder) -> bool
    holder(name) -> str | None

store.oncall (who is on call, per connector; pdsearch/store/oncall.py):
    replace(connector_id, shifts, since, until, *, requests=0) -> OnCallWindow
        # the connector's OnCallShift rows become exactly ``shifts``, one transaction
    window(connector_id) -> OnCallWindow | None; windows(connector_ids=None) -> {cid: window}
    shifts(connector_id) -> list[OnCallShift]
    shifts_for([(connector_id, schedule_ids, policy_ids)]) -> {(cid, type, pd_id): [shift]}
        # one query for a page of results; a schedule's own shifts, a policy's on-calls
    clear(connector_id)
    replace_people(connector_id, people); people(connector_id, user_ids=None) -> {id: Person}
    time_zone_of(email) -> str | None      # the viewer's PagerDuty time zone

Errors: ``StoreError`` > ``NotFoundError``, ``ConflictError``, ``InvalidValueError`` (also a
ValueError). Messages are fit to show a person and never contain a secret or the database
password; a database that cannot be reached or written is a ``StoreError`` too.
"""

from pdsearch.permissions import normalize_email
from pdsearch.store.connectors import ConnectorRepository
from pdsearch.store.core import Store
from pdsearch.store.entities import EntityLike, EntityRepository
from pdsearch.store.errors import ConflictError, InvalidValueError, NotFoundError, StoreError
from pdsearch.store.jobs import INTERRUPTED_ERROR, JobRepository, heartbeat
from pdsearch.store.leases import LeaseRepository
from pdsearch.store.oauth import OAuthStateRepository
from pdsearch.store.oncall import (
    OnCallRepository,
    OnCallShift,
    OnCallWindow,
    Person,
)
from pdsearch.store.records import (
    ACTIVE_JOB_STATUSES,
    AUTH_TYPES,
    CONNECTOR_STATUSES,
    COUNT_KEYS,
    FINISHED_JOB_STATUSES,
    JOB_MODES,
    JOB_STATUSES,
    JOB_TRIGGERS,
    MAX_FAILURES,
    REGIONS,
    SCHEDULE_MODES,
    Connector,
    EntityRecord,
    Job,
    ScheduleRecord,
    iso,
)
from pdsearch.store.schedules import ScheduleRepository
from pdsearch.store.sync_state import Cursor, SyncState, SyncStateRepository
from pdsearch.store.tickets import TicketRepository

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "AUTH_TYPES",
    "CONNECTOR_STATUSES",
    "COUNT_KEYS",
    "FINISHED_JOB_STATUSES",
    "INTERRUPTED_ERROR",
    "JOB_MODES",
    "JOB_STATUSES",
    "JOB_TRIGGERS",
    "MAX_FAILURES",
    "REGIONS",
    "SCHEDULE_MODES",
    "ConflictError",
    "Connector",
    "ConnectorRepository",
    "Cursor",
    "EntityLike",
    "EntityRecord",
    "EntityRepository",
    "InvalidValueError",
    "Job",
    "JobRepository",
    "LeaseRepository",
    "NotFoundError",
    "OAuthStateRepository",
    "OnCallRepository",
    "OnCallShift",
    "OnCallWindow",
    "Person",
    "ScheduleRecord",
    "ScheduleRepository",
    "Store",
    "StoreError",
    "SyncState",
    "SyncStateRepository",
    "TicketRepository",
    "heartbeat",
    "iso",
    "normalize_email",
]
