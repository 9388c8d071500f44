"""ChatService: the request path users pay for.

Before anything goes upstream: the caller's API key, the model, the key's own limits and the
plan quota. Then a leased account answers, streamed event by event.

Every route that relays chat, whatever its wire format (the /api/ai routes, /v1/chat/completions
and any protocol route added later), comes through `begin`, and its quota unit through one
admission authority per counter (quota/reservations.py): Redis's hold script while Redis is
usable, the database alone without it. So any mix of routes, on any number of instances, admits
exactly the plan's limit; a mode only chooses where the admitted unit is then kept (a
reservation row, or chat-fast's hold until its usage record is stored).

Before the upstream call, a conversation (chat/session_key.py) is steered back to the account
that answered it last (sticky_sessions.py), for the provider's prompt cache.

After the answer: the usage is recorded once (request id) against the key, the account and
the model, and the reservation is committed in that same transaction. A request that fails
before its first byte cancels its reservation and bills nothing.

What is billed is the provider's final count (the gateway keeps usage reporting on whatever the
caller sends). Without one (a provider reporting none, a stream cut before its final count) it
is at least the estimate of the whole prompt and of every choice's delivered output
(app/providers/estimate.py), and the usage event is marked estimated.

The three modes differ in where the bookkeeping happens (chat/modes.py holds it as data):
- `chat`: every check reads the system of record (no cache) and the usage is stored before the
  answer ends, its quota reservation committed with it.
- `optimized`: the caller and the model are resolved in parallel, limits are read cache-first.
  It admits as `fast` does (a hold in Redis, the cached pool) and its usage goes to `fast`'s
  queue. With RELAYGATE_CHAT_OPTIMIZED_USAGE=stored it is stored before the answer ends
  instead, and that synchronous store settles the hold in the transaction that records the
  usage (usage/settlement.py), so no reservation row is written.
  Requests of one process that store at the same time (`chat`'s, a stored `optimized`'s) are
  stored together in one statement (usage/group_store.py).
- `fast`: no SQL on a warm path. Limits come from Redis: the quota unit stays a hold in Redis
  (app/cache/holds.py) and the account is picked from the cached pool
  (accounts/candidates.py). The usage record, with the hold and the account's totals
  (usage/settlement.py), goes to the Redis Stream that the `drain-usage` worker stores in
  one transaction, acknowledged after commit, so a killed worker loses nothing. Without
  Redis every step falls back to the database, as in `chat`.

The usage record and the account's totals are always stored in one transaction. If storing
fails (the database is down as the answer ends), the record is queued instead; if the queue
is down too, storing is tried at once: a delivered answer's usage is never dropped silently.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from app.cache import ReadAhead, read_ahead, reading_ahead, riding_along
from app.errors import BadRequest, DatabaseError, NotFound, Unauthenticated
from app.providers import estimate
from app.providers.base import ChatRequest, ProviderError, Usage
from app.providers.streaming import ProviderStream
from app.services.accounts.candidates import may_serve
from app.services.catalogue.pricing import from_catalogue
from app.services.chat.modes import MODES, ChatMode, mode_named
from app.services.chat.session_key import RequestHeaders, headers_read, session_key
from app.services.chat.upstream import UpstreamCall, answer_for, open_upstream
from app.services.chat.wire import FORMATS, UsageSummary, WireFormat
from app.services.keys.clients import ClientRequest
from app.services.quota.rules import Usage as QuotaUsage
from app.services.request_ids import random_uuid
from app.services.usage.service import UsageRecord
from app.services.usage.settlement import Settlement

if TYPE_CHECKING:
    from app.db.models import Account
    from app.services.accounts.groups import AccountGroupService
    from app.services.accounts.scheduler import AccountScheduler
    from app.services.accounts.service import AccountService
    from app.services.accounts.sticky_sessions import SessionBinding, StickySessions
    from app.services.auth import AuthService
    from app.services.catalogue.service import ModelService
    from app.services.keys.limits import Admission, KeyLimits
    from app.services.keys.service import KeyService
    from app.services.keys.windows import KeyWindows, WindowHold
    from app.services.quota.reservations import Reservation
    from app.services.quota.rules import Subject
    from app.services.quota.service import QuotaService
    from app.services.usage.group_store import GroupStore
    from app.services.usage.writer import UsageWriter

log = logging.getLogger(__name__)


_NAMED = {"model", "messages", "system", "max_tokens", "temperature", "stream"}


@dataclass
class ChatAnswer:
    """Either a finished JSON answer or the event stream to send."""

    body: dict | None = None
    stream: Iterable[str] | None = None
    media_type: str = "application/json"
    # The id the usage is recorded under (the client-protocol routes send it as a header, since
    # their answers keep the upstream's own ids).
    request_id: str | None = None


@dataclass
class ChatTicket:
    """What the checks granted a request; settled exactly once by `finish` or `abandon`."""

    mode: ChatMode
    key: dict
    model: dict
    subject: Subject
    reservation: Reservation
    admission: Admission
    request_id: str = field(default_factory=lambda: f"chat-{random_uuid()}")
    settled: bool = False
    prompt_tokens_estimate: int = 0
    # The conversation's key (chat/session_key.py): it keeps to one account while it can.
    session: str | None = None
    cut: bool = False  # ended by the server shutting down, not by the upstream or the client
    # The estimate held against the key's window limits (key_windows.py), settled with the usage.
    window: WindowHold | None = None
    # The cached reads of the admission, read in one round trip (`begin`, `open`).
    ahead: ReadAhead | None = None
    # The session's sticky binding, read with the admission's first script call.
    binding: SessionBinding | None = None

    @property
    def provider(self) -> str:
        return self.model["provider"]



@dataclass(frozen=True)
class Access:
    """check-access's answer on the provider: may the key use it, is an account free now."""

    provider: str | None
    provider_allowed: bool
    account_available: bool


@dataclass(frozen=True)
class AccessVerdict:
    """The usage check's verdict and the provider's access (CheckAccessSchema names it)."""

    can_proceed: bool
    usage: QuotaUsage
    access: Access

class ChatService:
    def __init__(self, *, auth: AuthService, keys: KeyService, models: ModelService,
                 quota: QuotaService, key_limits: KeyLimits, scheduler: AccountScheduler,
                 accounts: AccountService, group_store: GroupStore,
                 usage_writer: UsageWriter, groups: AccountGroupService,
                 sticky: StickySessions | None = None,
                 key_windows: KeyWindows | None = None, upstream_attempts: int = 3,
                 modes: dict[str, ChatMode] = MODES) -> None:
        self.auth, self.keys, self.models, self.quota = auth, keys, models, quota
        self.key_limits, self.scheduler, self.accounts = key_limits, scheduler, accounts
        self.usage_writer, self.sticky = usage_writer, sticky
        self.group_store = group_store
        self.groups, self.key_windows = groups, key_windows
        self.upstream_attempts = upstream_attempts
        self.modes = modes
        self._parallel = ThreadPoolExecutor(max_workers=8, thread_name_prefix="chat-resolve")
        # Streams being relayed; weak, so one whose close() the server never called is no leak.
        self._open: weakref.WeakSet[RelayStream] = weakref.WeakSet()
        self._open_lock = threading.Lock()

    # -- before the upstream -------------------------------------------------------------------

    def check_access(self, credential, model_name: str) -> AccessVerdict:
        """The usage check plus: may the key use the provider, is an account free now."""
        principal = self.auth.principal(credential)
        model = self.models.resolve(model_name)
        verdict = self.quota.verdict_for(self.quota.subject_for(principal), model_name)
        provider = model.get("provider")
        if provider and principal.kind == "api_key":
            self.key_limits.check_use(principal.data, model)
        available = bool(provider) and bool(
            self.accounts.available(provider=provider, rate_limit_available=True))
        return AccessVerdict(can_proceed=verdict.can_proceed and available, usage=verdict.usage,
                             access=Access(provider=provider, provider_allowed=True,
                                           account_available=available))

    def begin(self, credential, model_name: str, mode: str, *, client_names: bool = False,
              providers: tuple[str, ...] | None = None,
              client: ClientRequest | None = None, session: str | None = None) -> ChatTicket:
        """The checks. `client_names` resolves the model as client protocols name it
        (ModelService.resolve_for_client: id, name, upstream name or alias); `providers`, when
        given, are the only ones the route can relay to; `client` is what tells the client
        (for the key's allowedClients); `session` the conversation's key (its sticky binding
        is read along with the admission). The first admitted request of a key whose expiry
        counts from its first use starts that period."""
        chat_mode = mode_named(mode, self.modes)
        ahead = self._read_ahead(credential, model_name, chat_mode, client_names)
        # The sticky read rides the slots' or the hold's script call: one round trip.
        with reading_ahead(ahead), riding_along():
            ticket = self._begin(credential, model_name, chat_mode, client_names=client_names,
                                 providers=providers, client=client, session=session,
                                 ahead=ahead)
        ticket.ahead = ahead
        return ticket

    def _read_ahead(self, credential, model_name: str, chat_mode: ChatMode,
                    client_names: bool) -> ReadAhead | None:
        """The cached reads a cache-first admission makes (the key, the model, the plans and,
        for a cached pool, the accounts), in one Redis round trip instead of one each; for a
        fresh admission, the cached read it still makes (the plans)."""
        if credential is None or credential.kind != "api_key":
            return None
        models = type(self.models)
        if chat_mode.fresh:
            # The key and the model (its tier with it) are read from the database; the
            # quota's read of the plans stays cache-first.
            return None if client_names else read_ahead(
                self.keys.cache, [(type(self.quota.plans).limits, ())])
        # A client protocol's model comes from the client routes, and its tier with it (the
        # hold takes it from there): the model is read by name only for the other routes.
        reads = [self.keys.cached_read(credential.token),
                 (models.client_routes, ()) if client_names else (models.resolve, (model_name,)),
                 (type(self.quota.plans).limits, ())]
        if chat_mode.cached_pool:
            reads.append((type(self.scheduler.pool).schedulable, ()))
        return read_ahead(self.keys.cache, reads)

    def _begin(self, credential, model_name: str, chat_mode: ChatMode, *, client_names: bool,
               providers: tuple[str, ...] | None, client: ClientRequest | None,
               session: str | None, ahead: ReadAhead | None = None) -> ChatTicket:
        key, model = self.caller_and_model(credential, model_name, chat_mode.name,
                                           client_names=client_names, ahead=ahead)
        check_model(model, model_name)
        if providers is not None and model["provider"] not in providers:
            raise BadRequest(
                f"The model {model_name!r} is served by {model['provider']}; this route "
                f"relays to {' or '.join(providers)} models only (no translation yet).",
                code="FORMAT_MISMATCH")
        self.key_limits.check_use(key, model, client or ClientRequest())
        binding = (self.sticky.binding_riding(key["id"], session)
                   if self.sticky is not None else None)
        # The quota's Redis hold (a reservation's too) takes the key's slots in its own
        # script call (all or none).
        admission = self.key_limits.admit(key, model["provider"], fresh=chat_mode.fresh,
                                          model=model["id"], with_hold=True)
        try:
            principal = self.auth.principal(credential, key)
            subject = self.quota.subject_for(principal)
            # The tier is the answering entry's, whichever of its names the client sent.
            tier = model["id"] if client_names else model_name
            reservation = (self.quota.hold(subject, tier, slots=admission.claim,
                                           model_type=model["model_type"])
                           if chat_mode.holds_in_redis
                           else self.quota.reserve(subject, tier, slots=admission.claim,
                                                   model_type=model["model_type"]))
        except BaseException:
            admission.release(refused=True)
            raise
        ticket = ChatTicket(chat_mode, key, model, subject, reservation, admission,
                            session=session, binding=binding)
        try:
            admission.claimed()  # the slots a hold could not carry are taken now
            self.keys.activate(key)
        except BaseException:
            self.abandon(ticket)
            raise
        return ticket

    def caller_and_model(self, credential, model_name: str, mode: str, *,
                         client_names: bool = False,
                         ahead: ReadAhead | None = None) -> tuple[dict, dict]:
        """The caller's key and the model. `ahead`: what one Redis round trip read of them
        (then a `parallel` mode has nothing left to overlap and reads them on this thread)."""
        if credential is None or credential.kind != "api_key":
            raise Unauthenticated("An API key is required.", code="MISSING_API_KEY")
        chat_mode = mode_named(mode, self.modes)
        if chat_mode.fresh and not client_names:  # both in one statement
            key, found = self.keys.authenticate_with_model(credential.token, model_name)
            return key, self.models.record_of(found)
        if chat_mode.fresh:
            return (self.keys.authenticate(credential.token, fresh=True),
                    self._model(model_name, client_names, fresh=True))
        if chat_mode.parallel and not (ahead is not None and ahead.found):
            model = self._parallel.submit(self._model, model_name, client_names)
            return self.keys.authenticate(credential.token), model.result()
        return self.keys.authenticate(credential.token), self._model(model_name, client_names)

    def _model(self, model_name: str, client_names: bool, *, fresh: bool = False) -> dict:
        """The catalogue's answer for `model_name`; `{"id": None}` when nothing routes it."""
        if client_names:
            return self.models.resolve_for_client(model_name, fresh=fresh) or {"id": None}
        return self.models.resolve(model_name)

    def open(self, ticket: ChatTicket, request: ChatRequest, *,
             accounts: frozenset[str] | None = None) -> UpstreamCall:
        """Start the upstream call; on failure the ticket is abandoned and nothing billed.
        `accounts`, when given, narrows the accounts the key may use to these."""
        request.model = ticket.model.get("upstream_model") or request.model
        ticket.prompt_tokens_estimate = estimate.prompt_tokens(request)
        try:
            with reading_ahead(ticket.ahead):
                self._hold_window(ticket, request)
                return open_upstream(
                    scheduler=self.scheduler, accounts=self.accounts, provider=ticket.provider,
                    request=request, attempts=self.upstream_attempts,
                    cached=ticket.mode.cached_pool, sticky=self._session_binding(ticket),
                    only=accounts if accounts is not None
                    else self.groups.scope(ticket.key, ticket.provider))
        except BaseException:
            self.abandon(ticket)
            raise

    def accounts_where(self, ticket: ChatTicket,
                       chosen: Callable[[Account], bool]) -> frozenset[str]:
        """The ids of the ticket provider's accounts that its key may use and `chosen` picks."""
        scope = self.groups.scope(ticket.key, ticket.provider)
        return frozenset(account.id for account in self.scheduler.pool.accounts(ticket.provider)
                         if chosen(account) and may_serve(account, scope))

    def _hold_window(self, ticket: ChatTicket, request: ChatRequest) -> None:
        """Hold the request's estimate against the key's window limits: the prompt and all
        of `max_tokens`, priced as the model's input and output."""
        if self.key_windows is None or not ticket.key.get("window_limits"):
            return
        output = int(request.max_tokens or 0)
        prices = from_catalogue(ticket.model)
        cost = (prices.cost(input_tokens=ticket.prompt_tokens_estimate, output_tokens=output)
                if prices else Decimal(0))
        ticket.window = self.key_windows.hold(
            ticket.key, tokens=ticket.prompt_tokens_estimate + output, cost=cost)

    def _session_binding(self, ticket: ChatTicket):
        if self.sticky is None or ticket.session is None:
            return None
        return ticket.binding or self.sticky.binding(ticket.key["id"], ticket.session)

    def run(self, credential, model_name: str, body: dict, *, mode: str,
            wire: str = "relay", headers: RequestHeaders | None = None) -> ChatAnswer:
        """The whole request: checks, the upstream call, and the answer or its event stream.

        `headers` are the client's request headers (a session id may be among them)."""
        # Client protocols (wire formats other than our relay's) name models as their clients do.
        sent = headers_read(headers)
        ticket = self.begin(credential, model_name, mode, client_names=wire != "relay",
                            client=ClientRequest.of(sent, body),
                            session=session_key(body, sent))
        request = ChatRequest(
            model=model_name, messages=body["messages"], system=body.get("system"),
            max_tokens=body.get("max_tokens"), temperature=body.get("temperature"),
            stream=body.get("stream", True),
            extra={k: v for k, v in body.items() if k not in _NAMED})
        call = self.open(ticket, request)
        form = FORMATS[wire](ticket.model, ticket.request_id)
        if request.stream:
            return ChatAnswer(stream=RelayStream(self, ticket, call, form),
                              media_type=form.media_type)
        return ChatAnswer(body=self.complete(ticket, call, form))

    # -- the answer ----------------------------------------------------------------------------

    def events(self, ticket: ChatTicket, call: UpstreamCall,
               wire: WireFormat) -> Generator[str, None, None]:
        """SSE text, each upstream event forwarded as it arrives; usage recorded at the end.

        After the first byte nothing is retried: an upstream failure ends the stream with an
        error event. If the client goes away, the upstream request is closed and the usage so
        far is recorded (the generator's `finally` runs when the server closes it).
        """
        stream, ended = call.streamed, None
        try:
            for event in stream:
                text = wire.event(event)
                if text:
                    yield text
            ended = (wire.error("SERVER_SHUTTING_DOWN", "The server is shutting down; the "
                                "stream was cut and billed what it relayed.")
                     if ticket.cut else "")
        except ProviderError as error:
            self.scheduler.report(call.account.id, error)
            failure = answer_for(error)
            ended = wire.error(failure.code, failure.message, error)
        finally:
            stream.close()
            summary = self.finish(ticket, call, _spent(stream, ticket))
        if ended:
            yield ended
        yield (wire.usage(summary) if summary is not None else "") + wire.closing()

    def cut_open_streams(self) -> int:
        """The server is shutting down: end every open stream now (each is billed what it
        relayed, as if its client had left) rather than be killed with its usage unrecorded.
        Answers how many were cut."""
        with self._open_lock:
            streams = list(self._open)
        for relay in streams:
            relay.cut()
        return len(streams)

    def _opened(self, relay: RelayStream) -> None:
        with self._open_lock:
            self._open.add(relay)

    def _closed(self, relay: RelayStream) -> None:
        with self._open_lock:
            self._open.discard(relay)

    def complete(self, ticket: ChatTicket, call: UpstreamCall, wire: WireFormat) -> dict:
        result = call.answered
        usage = estimate.billable(result.usage, final=result.usage_final,
                                  delivered_chars=result.delivered_chars,
                                  prompt=ticket.prompt_tokens_estimate)
        summary = self.finish(ticket, call, usage)
        if summary is None:  # nothing but this answer settles a ticket opened for one
            raise RuntimeError(f"{ticket.request_id} was settled before its answer")
        return wire.answer(result.text, result.raw, summary)

    # -- bookkeeping -----------------------------------------------------------------------------

    def finish(self, ticket: ChatTicket, call: UpstreamCall,
               usage: Usage) -> UsageSummary | None:
        """Commit the reservation and record the usage, once; answers the usage summary (None
        when the ticket was settled before: nothing more is recorded)."""
        if ticket.settled:
            return None
        ticket.settled = True
        prices = from_catalogue(ticket.model)
        cost = prices.cost(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                           cache_write_tokens=usage.cache_write_tokens,
                           cache_read_tokens=usage.cache_read_tokens,
                           cache_write_1h_tokens=usage.cache_write_1h_tokens,
                           ) if prices else Decimal(0)
        account, reservation = call.account, ticket.reservation
        # The lease and the slots are freed first so that their Redis writes ride with the
        # usage's XADD (one round trip); whatever the store does, they go at the block's end.
        with riding_along():
            call.lease.release()
            ticket.admission.release()
            record = UsageRecord(
                api_key_id=ticket.key["id"], model=ticket.model["id"],
                input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                cache_read_tokens=usage.cache_read_tokens, cost=cost,
                account_id=account.id, account_type=ticket.provider,
                request_id=ticket.request_id, estimated=usage.estimated)
            held = reservation.held_on
            settlement = Settlement(account.id, usage.total_tokens, cost,
                                    reservation.id if held else None, held, ticket.window)
            # A database reservation is committed with the usage record when it is stored.
            with_record = None if held is not None else (ticket.subject, reservation.id)
            if not self._store(record, settlement, behind=ticket.mode.write_behind,
                               reservation=with_record) and held is None:
                self._commit(ticket)
        return UsageSummary(ticket.request_id, usage.input_tokens, usage.output_tokens,
                            usage.cache_write_tokens, usage.cache_read_tokens,
                            usage.total_tokens, cost)

    def _commit(self, ticket: ChatTicket) -> None:
        """Keep the database reservation's unit. The answer is delivered and its usage kept
        whatever happens here: a commit that fails lets the reservation expire, which gives
        the unit back (the subject gets one use free), rather than fail the answer."""
        try:
            self.quota.commit(ticket.subject, ticket.reservation.id)
        except DatabaseError:
            log.exception("could not commit reservation %s", ticket.reservation.id)

    def _store(self, record: UsageRecord, settlement: Settlement, *, behind: bool,
               reservation: tuple[Subject, str] | None) -> bool:
        """Store the usage with its settlement, or queue it when `behind` (the writer stores
        it at once if the queue is down); a store that fails goes to the queue instead.
        True when the record was stored now, `reservation` committed with it. It is stored
        with the usage of the process's requests finishing at the same time, in one statement
        (usage/group_store.py)."""
        if behind:
            self.usage_writer.record(record, verify_key=False, behind=True,
                                     settlement=settlement)
            return False
        try:
            return self.group_store.store(record, settlement, reservation)
        except DatabaseError:
            queue = self.usage_writer.queue
            if queue is None:
                raise
            log.warning("storing usage %s failed; queued for the drain worker", record.request_id)
            queue.enqueue(record, settlement)
            return False

    def abandon(self, ticket: ChatTicket) -> None:
        """Nothing reached the client: give the quota unit back, bill nothing."""
        if ticket.settled:
            return
        ticket.settled = True
        try:
            if ticket.reservation.held_on is not None:
                self.quota.release(ticket.reservation)
            else:
                self.quota.cancel(ticket.subject, ticket.reservation.id)
        except Exception:  # an uncancelled reservation gives itself back when it expires
            log.exception("could not cancel reservation %s", ticket.reservation.id)
        finally:
            if self.key_windows is not None:
                self.key_windows.release(ticket.window)
            ticket.admission.release()


def check_model(model: dict, model_name: str) -> None:
    """A model the catalogue routes, and offers now."""
    if model.get("id") is None:
        raise NotFound(f"No model is named {model_name!r}.", code="MODEL_NOT_FOUND")
    if not model.get("is_active", True):
        raise NotFound(f"The model {model_name!r} is not available.", code="MODEL_INACTIVE")


class RelayStream:
    """The event stream as a WSGI iterable whose `close()` settles the request even when the
    client left before the first event was pulled (an unstarted generator's `finally` never
    runs)."""

    def __init__(self, service: ChatService, ticket: ChatTicket, call: UpstreamCall,
                 wire: WireFormat) -> None:
        self._service, self._ticket, self._call = service, ticket, call
        self._events = service.events(ticket, call, wire)
        self._started = False
        service._opened(self)

    def __iter__(self) -> Iterator[str]:
        self._started = True
        return self._events

    def cut(self) -> None:
        """End the stream from another thread: its reader sees the upstream end and settles."""
        self._ticket.cut = True
        self._call.streamed.interrupt()

    def close(self) -> None:
        self._service._closed(self)
        if self._started:
            self._events.close()
            return
        self._call.streamed.close()
        self._service.finish(self._ticket, self._call, _spent(self._call.streamed, self._ticket))


def _spent(stream: ProviderStream, ticket: ChatTicket) -> Usage:
    """The usage the upstream reported, if final; else at least the estimate of the prompt and
    of what was relayed (OpenAI reports usage only in its last chunk, Anthropic's first count
    is provisional), marked estimated."""
    return estimate.billable(stream.usage, final=stream.usage_final,
                             delivered_chars=stream.delivered_chars,
                             prompt=ticket.prompt_tokens_estimate)
