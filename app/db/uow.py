"""The unit of work: one database session, its repositories, and an explicit commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db import repositories as repos
from app.db.engine import translate

# The unit of work of a shared transaction (a batch), which service calls inside it join.
_SHARED: ContextVar[UnitOfWork | None] = ContextVar("shared_unit_of_work", default=None)


class UnitOfWork:
    """Open with `with uow:`; leaving the block rolls back whatever was not committed."""

    admins: repos.AdminRepository
    sessions: repos.SessionRepository
    api_keys: repos.ApiKeyRepository
    usage_events: repos.UsageEventRepository
    usage_rollups: repos.UsageRollupRepository
    usage_store: repos.UsageStoreRepository
    health: repos.HealthRepository
    accounts: repos.AccountRepository
    account_leases: repos.AccountLeaseRepository
    account_groups: repos.AccountGroupRepository
    limit_slots: repos.LimitSlotRepository
    key_window_holds: repos.KeyWindowHoldRepository
    login_failures: repos.LoginFailureRepository
    storage_strategies: repos.StorageStrategyRepository
    metrics: repos.MetricsRepository
    alerts: repos.AlertRepository
    alert_deliveries: repos.AlertDeliveryRepository
    staged_transactions: repos.StagedTransactionRepository
    staged_operations: repos.StagedOperationRepository
    models: repos.AiModelRepository
    users: repos.UserRepository
    plan_limits: repos.PlanLimitRepository
    usage_counters: repos.UsageCounterRepository
    usage_reservations: repos.UsageReservationRepository
    usage_idempotency: repos.UsageIdempotencyRepository
    crs_import_items: repos.CrsImportItemRepository
    key_hash_peppers: repos.KeyHashPepperRepository
    usage_baselines: repos.UsageBaselineRepository
    sticky_sessions: repos.StickySessionRepository
    usage_queue_ledger: repos.UsageQueueLedgerRepository
    session: Session  # like the repositories, set on entering the block

    def __init__(self, session_factory: sessionmaker, execution_options: dict | None = None):
        self._session_factory = session_factory
        self._execution_options = execution_options
        self._built: list[str] = []

    def __enter__(self) -> UnitOfWork:
        self._forget_repositories()
        self.session = self._session_factory()
        if self._execution_options:
            # Isolation level and read-only must be set before the transaction's first query.
            self.session.connection(execution_options=self._execution_options)
        return self

    def _forget_repositories(self) -> None:
        """A unit of work entered again starts with none built (they held the last session)."""
        for name in self._built:
            del self.__dict__[name]
        self._built = []

    def __getattr__(self, name: str):
        """A repository is built on its first use in the block (most blocks use one of the
        thirty): only names of repositories, and only once the session is open."""
        repository = repos.REPOSITORIES.get(name)
        session = self.__dict__.get("session")
        if repository is None or session is None:
            raise AttributeError(name)
        built = repository(session)
        setattr(self, name, built)
        self._built.append(name)
        return built

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc is None:
                # Keep loaded rows usable after the block: rollback would expire them.
                self.session.expunge_all()
            self.session.rollback()
        finally:
            self.session.close()
        if isinstance(exc, SQLAlchemyError):
            raise translate(exc) from exc

    def commit(self) -> None:
        try:
            self.session.commit()
        except SQLAlchemyError as error:
            raise translate(error) from error

    def flush(self) -> None:
        try:
            self.session.flush()
        except SQLAlchemyError as error:
            raise translate(error) from error


class StatementSession:
    """The `session` of an autocommit unit of work: a pooled connection that runs Core and text
    statements (execute, scalar, scalars) and nothing of the ORM (no rows loaded as objects,
    nothing added), each statement its own transaction. It spares every one-statement write
    or read the ORM session's bookkeeping, most of such a statement's CPU."""

    def __init__(self, connection: Connection):
        self._connection = connection

    def execute(self, statement, params=None):
        return self._connection.execute(statement, params)

    def scalar(self, statement, params=None):
        return self._connection.scalar(statement, params)

    def scalars(self, statement, params=None):
        return self._connection.scalars(statement, params)

    def get_bind(self) -> Connection:
        return self._connection

    def connection(self) -> Connection:
        """As Session.connection(): the connection its statements run on."""
        return self._connection


class AutocommitUnitOfWork(UnitOfWork):
    """`at_once`'s unit of work: statements on one autocommit connection (StatementSession).
    Each statement is committed as the server runs it, so `commit` has nothing to send."""

    def __init__(self, engine: Engine):  # no session factory: no ORM session is opened
        self._engine = engine
        self._built = []

    def __enter__(self) -> AutocommitUnitOfWork:
        self._forget_repositories()
        try:
            self._connection = self._engine.connect().execution_options(
                isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as error:
            raise translate(error) from error
        self.session = StatementSession(self._connection)  # type: ignore[assignment]
        return self

    def __exit__(self, exc_type, exc, tb):
        self._connection.close()
        if isinstance(exc, SQLAlchemyError):
            raise translate(exc) from exc

    def commit(self) -> None:
        """Nothing to send: every statement committed as it ran."""

    def flush(self) -> None:
        """Nothing is pending: statements run as they are made."""


class JoinedUnitOfWork:
    """A service's unit of work inside a shared transaction: its commit only flushes.

    Flushing at each service's commit makes a failing operation fail at its own place (so a
    batch can name it); the shared transaction alone commits, or rolls everything back.
    """

    def __init__(self, shared: UnitOfWork):
        self._shared = shared

    def __enter__(self) -> JoinedUnitOfWork:
        return self

    def __exit__(self, exc_type, exc, tb):
        if isinstance(exc, SQLAlchemyError):
            raise translate(exc) from exc

    def __getattr__(self, name):
        return getattr(self._shared, name)

    def commit(self) -> None:
        self._shared.flush()


class UnitOfWorkFactory:
    """What services receive: calling it gives a fresh unit of work (or joins a shared one)."""

    def __init__(self, session_factory: sessionmaker, *, autocommit: bool = True):
        self.session_factory = session_factory
        # Whether `at_once` may run in autocommit; without it, a one-statement transaction.
        self.autocommit = autocommit

    def __call__(self) -> UnitOfWork | JoinedUnitOfWork:
        shared = _SHARED.get()
        if shared is not None:
            return JoinedUnitOfWork(shared)
        return UnitOfWork(self.session_factory)

    def at_once(self) -> UnitOfWork | JoinedUnitOfWork:
        """A unit of work whose every statement commits as it runs (autocommit), for a write
        made in one statement: its row locks last only while the server runs it, never across
        a COMMIT's round trip. Inside a shared transaction it joins that one. Where the
        deployment allows no autocommit (PgBouncer: the statement timeout is set per
        transaction) it is an ordinary unit of work, and its writer commits."""
        shared = _SHARED.get()
        if shared is not None:
            return JoinedUnitOfWork(shared)
        if not self.autocommit:
            return UnitOfWork(self.session_factory)
        return AutocommitUnitOfWork(self.session_factory.kw["bind"])

    def separate(self) -> UnitOfWork:
        """A unit of work of its own even inside a shared transaction (bookkeeping reads)."""
        return UnitOfWork(self.session_factory)

    @contextmanager
    def shared(self, *, isolation_level: str | None = None,
               read_only: bool = False) -> Iterator[UnitOfWork]:
        """One transaction that every service call made inside the block joins.

        The caller commits it explicitly; leaving the block otherwise rolls it all back.
        """
        options: dict[str, object] = {}
        if isolation_level:
            options["isolation_level"] = isolation_level
        if read_only:
            options["postgresql_readonly"] = True
        with UnitOfWork(self.session_factory, options) as uow:
            token = _SHARED.set(uow)
            try:
                yield uow
            finally:
                _SHARED.reset(token)


def in_shared_transaction() -> bool:
    return _SHARED.get() is not None
