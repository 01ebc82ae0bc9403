"""Suspicious-activity alerts: rules over the audit event stream, and the Alerts page's services.

The rules (thresholds in settings, AUDIT_ALERT_*; each alert is raised at the time of the event
that completed its pattern, so the Alerts page says when the activity happened):

- AccessDeniedBurst: one principal refused (KMS's AccessDeniedException, IAM's or STS's
  AccessDenied) at least
  AUDIT_ALERT_DENIED_BURST_COUNT times within AUDIT_ALERT_DENIED_BURST_SECONDS: somebody is
  probing what a stolen credential may do, or a deployment lost its permissions.
- DecryptVolumeAnomaly: a principal's successful Decrypt requests in the last
  AUDIT_ALERT_DECRYPT_WINDOW_SECONDS are more than AUDIT_ALERT_DECRYPT_FACTOR times its own
  average per window over the AUDIT_ALERT_DECRYPT_BASELINE_DAYS before: data being read out in
  bulk. AUDIT_ALERT_DECRYPT_MIN_COUNT must be reached too, because a quiet principal's average is
  close to zero: without a floor its first few requests (a new application, a nightly job
  running for the first time this week) would each be "infinitely" above its baseline. A
  principal without history that reaches the floor within one window is reported.
- KeyDeletionScheduled: a successful ScheduleKeyDeletion. Deleting a key destroys every
  ciphertext made under it; the waiting period exists so that somebody notices and cancels.
- KeyPolicyPublic: a key policy (PutKeyPolicy, or CreateKey with a policy) with an Allow
  statement that gives kms:* (or "*") to Principal "*" (or AWS "*") without a condition: anyone
  in any account may use and manage the key.
- DisabledKeyUse: a cryptographic operation refused because its key is disabled
  (DisabledException) or pending deletion (KMSInvalidStateException "... is pending
  deletion."): something still depends on a key that is about to go, which is exactly what
  disabling a key before deleting it is meant to reveal. A key that is pending import also
  answers KMSInvalidStateException; it was never usable, so that is not reported.

A continuing pattern is reported once per window, not once per event: a burst, a Decrypt spike
and the use of a disabled key raise at most one alert per principal (and key) per the rule's
window. Deletions and policy changes are single deliberate acts: each is its own alert.

How the scan reads the stream: `alerts_scan()` reads the events after
AlertScanState.last_sequence in the audit chain's order (the gapless `sequence` record() gives
each event; events recorded before the chain existed have none and are not scanned), in bounded
batches. Each batch -- reading the state, raising its alerts, advancing the state -- is one
transaction that holds the state row's lock (select_for_update), so two scanners take turns and
the second starts where the first stopped: an event is never judged twice. The state is also
advanced with a compare-and-set (UPDATE ... WHERE last_sequence = the value read), so a scanner
whose lock did not hold (SQLite has no row locks; it serialises writers instead) rolls its batch
back rather than raising the same alerts again. No event can be skipped either: a sequence is
handed out under the chain head's lock, held until the event's transaction commits, so events
become visible in sequence order.

Scanning is not an audited request: it acts for nobody and changes no key, and recording each
60-second scan would fill the trail with events about reading the trail. What is audited is
reading and archiving the alerts.

Why GuardDuty's actions: an alert is a finding about the account drawn from its trail, which is
what Amazon GuardDuty produces from CloudTrail; neither KMS nor CloudTrail has an action for
reading such findings. So the pages are authorized and recorded as GuardDuty's: listing is
"guardduty:ListFindings" (event ListFindings, read-only), one alert "guardduty:GetFindings"
(GetFindings, read-only), archiving one "guardduty:ArchiveFindings" (ArchiveFindings, not
read-only), on the account's detector arn:aws:guardduty:<region>:<account>:detector/kmsconsole,
from guardduty.amazonaws.com. Existing IAM policies then mean what they mean in AWS:
AdministratorAccess allows them, KMS-only policies do not, so a key user can neither read nor
silence the findings about its own use of the keys.
"""

import datetime
from collections import defaultdict, deque
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from audit.recording import operation
from grants.authorization import authorize
from grants.policy import PolicyError, parse_policy_cached
from grants.principals import Caller
from kmsconsole.errors import ClientError, NotFoundError

from .models import Alert, AlertScanState, AuditEvent
from .selectors import CRYPTOGRAPHIC_OPERATIONS, DENIED_CODES

DENIED_BURST = "AccessDeniedBurst"
DECRYPT_SPIKE = "DecryptVolumeAnomaly"
DELETION_SCHEDULED = "KeyDeletionScheduled"
PUBLIC_POLICY = "KeyPolicyPublic"
DISABLED_KEY_USE = "DisabledKeyUse"


@dataclass(frozen=True)
class Rule:
    """How the Alerts page names a rule, and how urgent its alerts are (GuardDuty's levels)."""

    title: str
    severity: str


RULES = {
    PUBLIC_POLICY: Rule("Key policy allows everyone", "High"),
    DECRYPT_SPIKE: Rule("Unusual Decrypt volume", "High"),
    DELETION_SCHEDULED: Rule("Key scheduled for deletion", "Medium"),
    DENIED_BURST: Rule("Burst of denied requests", "Medium"),
    DISABLED_KEY_USE: Rule("Use of a disabled key", "Low"),
}

GUARDDUTY = "guardduty.amazonaws.com"
DETECTOR_ID = "kmsconsole"
PAGE_SIZE = 50
# The newest triggering events an alert keeps (a long burst stays one readable alert).
MAX_EVENTS_PER_ALERT = 100
# The Alerts page scans before it lists, at most this many batches: enough to be current when
# beat runs (one minute of events), bounded when beat is down and a backlog waits for it.
PAGE_SCAN_MAX_BATCHES = 5

STATE_ID = 1
# What the rules read of an event (whole rows, JSON and search text included, were about a
# quarter of a batch's time).
SCANNED_FIELDS = ("sequence", "event_time", "event_name", "recipient_account_id",
                  "principal_arn", "error_code", "error_message", "key_id",
                  "request_parameters", "response_elements")
KEY_USE_ERRORS = {"DisabledException", "KMSInvalidStateException"}
KEY_USE_OPERATIONS = frozenset(CRYPTOGRAPHIC_OPERATIONS) | {"GetPublicKey"}
OPEN_TO_ALL_ACTIONS = {"*", "kms:*"}


@dataclass(frozen=True)
class Thresholds:
    """The rules' settings, read when a scan starts (so tests can override them)."""

    denied_count: int
    denied_window: datetime.timedelta
    decrypt_window: datetime.timedelta
    decrypt_baseline: datetime.timedelta
    decrypt_factor: float
    decrypt_min_count: int
    key_use_window: datetime.timedelta

    @classmethod
    def from_settings(cls) -> "Thresholds":
        return cls(
            denied_count=settings.AUDIT_ALERT_DENIED_BURST_COUNT,
            denied_window=datetime.timedelta(seconds=settings.AUDIT_ALERT_DENIED_BURST_SECONDS),
            decrypt_window=datetime.timedelta(
                seconds=settings.AUDIT_ALERT_DECRYPT_WINDOW_SECONDS),
            decrypt_baseline=datetime.timedelta(days=settings.AUDIT_ALERT_DECRYPT_BASELINE_DAYS),
            decrypt_factor=settings.AUDIT_ALERT_DECRYPT_FACTOR,
            decrypt_min_count=settings.AUDIT_ALERT_DECRYPT_MIN_COUNT,
            key_use_window=datetime.timedelta(
                seconds=settings.AUDIT_ALERT_KEY_USE_WINDOW_SECONDS),
        )


def span(delta: datetime.timedelta) -> str:
    """A window as a message says it: "45 seconds", "1 minute", "7 days"."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


# --- the scan ----------------------------------------------------------------------------------

@dataclass
class ScanResult:
    """What one alerts_scan() did."""

    batches: int = 0
    events: int = 0
    alerts: int = 0
    last_sequence: int = 0

    def summary(self) -> str:
        return (f"Alert scan: {self.events} event(s) read in {self.batches} batch(es), "
                f"{self.alerts} alert(s) raised; scanned up to sequence {self.last_sequence}.")


class _LostRace(Exception):
    """Another scanner advanced the state since this one read it."""


def alerts_scan(*, max_batches: int | None = None, batch_size: int | None = None) -> ScanResult:
    """Run the rules over the events not scanned yet, a batch per transaction, until none are
    left (or after `max_batches`). Safe to run from several processes at once."""
    batch_size = batch_size or settings.AUDIT_ALERT_SCAN_BATCH_SIZE
    result = ScanResult()
    while max_batches is None or result.batches < max_batches:
        events, alerts, last_sequence = _scan_batch(batch_size)
        result.batches += 1
        result.events += events
        result.alerts += alerts
        result.last_sequence = last_sequence
        if events < batch_size:
            break
    return result


def _scan_batch(batch_size: int) -> tuple[int, int, int]:
    """(events read, alerts raised, the state's last_sequence afterwards)."""
    start = 0
    try:
        with transaction.atomic():
            start = _locked_state().last_sequence
            events = list(AuditEvent.objects.filter(sequence__gt=start).order_by("sequence")
                          .only(*SCANNED_FIELDS)[:batch_size])
            if not events:
                return 0, 0, start
            alerts = evaluate_rules(events, Thresholds.from_settings())
            Alert.objects.bulk_create(alerts)
            end = events[-1].sequence
            advanced = AlertScanState.objects.filter(pk=STATE_ID, last_sequence=start) \
                .update(last_sequence=end)
            if not advanced:
                raise _LostRace  # roll back this batch's alerts: the other scanner raised them
            return len(events), len(alerts), end
    except _LostRace:
        return 0, 0, start


def _locked_state() -> AlertScanState:
    """The state row, locked until the batch commits. The first scan ever creates it; two
    first scanners may race to do so, and INSERT ... ON CONFLICT DO NOTHING lets both."""
    state = AlertScanState.objects.select_for_update().filter(pk=STATE_ID).first()
    if state is None:
        AlertScanState.objects.bulk_create([AlertScanState(id=STATE_ID)],
                                           ignore_conflicts=True)
        state = AlertScanState.objects.select_for_update().get(pk=STATE_ID)
    return state


# --- the rules ---------------------------------------------------------------------------------

class _RecentAlerts:
    """The newest alert of each (rule, account, principal, key), so that a continuing pattern
    raises one alert per window. Read once per batch -- only alerts raised within the longest
    window before the batch's first event can silence one of its events -- and kept current
    as the batch raises alerts."""

    def __init__(self, since: datetime.datetime):
        rows = (Alert.objects.filter(raised_at__gt=since)
                .values("rule", "account_id", "principal_arn", "key_id")
                .annotate(newest=Max("raised_at")))
        self._newest = {(row["rule"], row["account_id"], row["principal_arn"], row["key_id"]):
                        row["newest"] for row in rows}

    def quiet(self, rule: str, event: AuditEvent, window: datetime.timedelta,
              key_id: str = "") -> bool:
        """Whether no such alert was raised in the `window` before `event`."""
        newest = self._newest.get((rule, event.recipient_account_id, event.principal_arn,
                                   key_id))
        return newest is None or event.event_time - newest >= window

    def raised(self, alert: Alert) -> Alert:
        self._newest[(alert.rule, alert.account_id, alert.principal_arn,
                      alert.key_id)] = alert.raised_at
        return alert


def evaluate_rules(events: list[AuditEvent], thresholds: Thresholds) -> list[Alert]:
    """The alerts `events` (a batch, in sequence order) raise, not yet saved."""
    longest = max(thresholds.denied_window, thresholds.decrypt_window,
                  thresholds.key_use_window)
    recent = _RecentAlerts(min(event.event_time for event in events) - longest)
    alerts: list[Alert] = []
    for rule in (_denied_bursts, _decrypt_spikes, _deletions_scheduled, _public_policies,
                 _disabled_key_use):
        alerts.extend(rule(events, thresholds, recent))
    return alerts


def _alert(rule: str, event: AuditEvent, message: str, sequences: list[int],
           key_id: str | None = None) -> Alert:
    return Alert(rule=rule, raised_at=event.event_time, account_id=event.recipient_account_id,
                 principal_arn=event.principal_arn,
                 key_id=event.key_id if key_id is None else key_id, message=message,
                 event_sequences=sequences[-MAX_EVENTS_PER_ALERT:])


def _by_principal(events) -> dict[tuple[str, str], list[AuditEvent]]:
    """Events grouped by (account, principal), in sequence order. Requests refused before
    authentication have no principal, so nobody to attribute a pattern to: they are left out."""
    groups: dict[tuple[str, str], list[AuditEvent]] = defaultdict(list)
    for event in events:
        if event.principal_arn:
            groups[(event.recipient_account_id, event.principal_arn)].append(event)
    return groups


def _history(events: list[AuditEvent], width: datetime.timedelta,
             **match) -> dict[tuple[str, str], list[tuple[int, datetime.datetime]]]:
    """(sequence, time), oldest first, of the events that `match`, by the principals of
    `events` (some of a batch), from `width` before the first of them up to the last: theirs,
    and those before the batch that are still in its window. One query per batch, whatever
    the number of principals; its rows are the principals' matching events of about one
    window, which the rule has to count anyway.

    Bounded by event_time on both sides and not ordered by sequence, so that PostgreSQL reads
    the rows from the event_time index: "sequence <= the batch's last" alone made it walk the
    sequence index through half the trail (1.3 s per batch at 500,000 events)."""
    times = [event.event_time for event in events]
    rows = (AuditEvent.objects
            .filter(**match, principal_arn__in=sorted({event.principal_arn for event in events}),
                    event_time__gt=min(times) - width, event_time__lte=max(times),
                    sequence__lte=events[-1].sequence)
            .order_by()
            .values_list("recipient_account_id", "principal_arn", "sequence", "event_time"))
    history: dict[tuple[str, str], list] = defaultdict(list)
    for account_id, principal_arn, sequence, moment in sorted(rows, key=_by_time):
        history[(account_id, principal_arn)].append((sequence, moment))
    return history


def _by_time(row: tuple) -> tuple:
    return row[3], row[2]  # event_time, then sequence for events of the same microsecond


def _sliding_windows(history: list[tuple[int, datetime.datetime]], width: datetime.timedelta):
    """For each event of `history` (oldest first): its sequence, and the (sequence, time) of
    the events in the `width` that ends with it, itself included (valid until the next)."""
    window: deque[tuple[int, datetime.datetime]] = deque()
    for sequence, moment in history:
        window.append((sequence, moment))
        while window[0][1] <= moment - width:
            window.popleft()
        yield sequence, window


def _denied_bursts(events, t: Thresholds, recent: _RecentAlerts) -> list[Alert]:
    denied = [event for event in events
              if event.error_code in DENIED_CODES and event.principal_arn]
    if not denied:
        return []
    in_batch = {event.sequence: event for event in denied}
    alerts = []
    for history in _history(denied, t.denied_window, error_code__in=DENIED_CODES).values():
        for sequence, window in _sliding_windows(history, t.denied_window):
            event = in_batch.get(sequence)
            if (event is None or len(window) < t.denied_count
                    or not recent.quiet(DENIED_BURST, event, t.denied_window)):
                continue
            message = (f"{event.principal_arn} was denied {len(window)} requests "
                       f"(AccessDeniedException or AccessDenied) within "
                       f"{span(t.denied_window)}.")
            alerts.append(recent.raised(_alert(
                DENIED_BURST, event, message, [sequence for sequence, _ in window], key_id="")))
    return alerts


def _decrypt_spikes(events, t: Thresholds, recent: _RecentAlerts) -> list[Alert]:
    decrypts = [event for event in events
                if event.event_name == "Decrypt" and not event.error_code and event.principal_arn]
    if not decrypts:
        return []
    checkpoints = {event.sequence: event for group in _by_principal(decrypts).values()
                   for event in _last_of_each_minute(group)}
    alerts = []
    for history in _history(decrypts, t.decrypt_window, event_name="Decrypt",
                            error_code="").values():
        for sequence, window in _sliding_windows(history, t.decrypt_window):
            event = checkpoints.get(sequence)
            if (event is None or len(window) < t.decrypt_min_count
                    or not recent.quiet(DECRYPT_SPIKE, event, t.decrypt_window)):
                continue
            alert = _decrypt_spike(event, [sequence for sequence, _ in window], t)
            if alert is not None:
                alerts.append(recent.raised(alert))
    return alerts


def _last_of_each_minute(group: list[AuditEvent]) -> list[AuditEvent]:
    """Where the Decrypt rule is checked: at the principal's last Decrypt of each minute.
    A check that passes the minimum count costs a COUNT over the baseline days; a busy
    principal at its usual rate would pay it at every Decrypt. A spike is a matter of an hour,
    so checking once a minute misses nothing worth an alert."""
    last: dict[datetime.datetime, AuditEvent] = {}
    for event in group:
        last[event.event_time.replace(second=0, microsecond=0)] = event
    return list(last.values())


def _decrypt_spike(event: AuditEvent, sequences: list[int], t: Thresholds) -> Alert | None:
    """The alert when the `sequences` (the principal's Decrypts in the window ending at
    `event`) are more than factor times its average per window over the baseline days."""
    window_start = event.event_time - t.decrypt_window
    baseline = AuditEvent.objects.filter(
        recipient_account_id=event.recipient_account_id, principal_arn=event.principal_arn,
        event_name="Decrypt", error_code="", event_time__gt=window_start - t.decrypt_baseline,
        event_time__lte=window_start).count()
    average = baseline / (t.decrypt_baseline / t.decrypt_window)
    count = len(sequences)
    if count <= t.decrypt_factor * average:
        return None
    message = (f"{event.principal_arn} made {count} successful Decrypt requests within "
               f"{span(t.decrypt_window)}; its average over the previous "
               f"{span(t.decrypt_baseline)} was {average:.1f} per {span(t.decrypt_window)}.")
    return _alert(DECRYPT_SPIKE, event, message, sequences, key_id="")


def _deletions_scheduled(events, t: Thresholds, recent: _RecentAlerts) -> list[Alert]:
    alerts = []
    for event in events:
        if event.event_name != "ScheduleKeyDeletion" or event.error_code:
            continue
        response = event.response_elements or {}
        days = response.get("pendingWindowInDays")
        when = f" in {days} days" if days else ""
        message = (f"Key {event.key_id} was scheduled for deletion{when} by "
                   f"{event.principal_arn or 'an unknown principal'}. Every ciphertext "
                   "encrypted under it becomes unrecoverable once it is deleted.")
        alerts.append(_alert(DELETION_SCHEDULED, event, message, [event.sequence]))
    return alerts


def open_to_everyone(policy_text: str) -> list[str]:
    """The labels of the policy's statements that allow kms:* (or "*") to everyone without a
    condition; [] for a policy that does not parse (it was refused, so it is not in force)."""
    try:
        policy = parse_policy_cached(policy_text, kind="key")
    except PolicyError:
        return []
    return [statement.label for statement in policy.statements
            if statement.effect == "Allow" and statement.effective
            and statement.principal is not None and statement.principal.everyone
            and not statement.conditions
            and OPEN_TO_ALL_ACTIONS.intersection(statement.actions or ())]


def _public_policies(events, t: Thresholds, recent: _RecentAlerts) -> list[Alert]:
    alerts = []
    for event in events:
        if event.event_name not in ("PutKeyPolicy", "CreateKey") or event.error_code:
            continue
        policy_text = (event.request_parameters or {}).get("policy")
        statements = open_to_everyone(policy_text) if isinstance(policy_text, str) else []
        if statements:
            message = (f"The key policy of key {event.key_id} ({event.event_name}) allows every "
                       f"KMS action to everyone (Principal \"*\") without a condition: "
                       f"{', '.join(statements)}.")
            alerts.append(_alert(PUBLIC_POLICY, event, message, [event.sequence]))
    return alerts


def unusable_key_state(event: AuditEvent) -> str | None:
    """"disabled" or "pending deletion" when `event` is a cryptographic operation its key's
    state refused; None otherwise. KMSInvalidStateException also answers a key pending import,
    so the message (AWS's documented wording) tells the two apart."""
    if event.event_name not in KEY_USE_OPERATIONS or event.error_code not in KEY_USE_ERRORS:
        return None
    if event.error_code == "DisabledException":
        return "disabled"
    return "pending deletion" if event.error_message.endswith("is pending deletion.") else None


def _disabled_key_use(events, t: Thresholds, recent: _RecentAlerts) -> list[Alert]:
    alerts = []
    for event in events:
        state = unusable_key_state(event)
        if state is None or not recent.quiet(DISABLED_KEY_USE, event, t.key_use_window,
                                             key_id=event.key_id):
            continue
        message = (f"{event.principal_arn or 'An unknown principal'} tried {event.event_name} "
                   f"with key {event.key_id}, which is {state}. Whatever still uses this key "
                   "fails until it is enabled again.")
        alerts.append(recent.raised(_alert(DISABLED_KEY_USE, event, message, [event.sequence])))
    return alerts


# --- reading alerts (selectors) ------------------------------------------------------------------

@dataclass
class AlertPage:
    """A page of alerts, newest first, the triggering events each names (sequence -> event,
    for those still stored), and the next page's token (None on the last)."""

    alerts: list[Alert]
    events: dict[int, AuditEvent]
    next_token: str | None
    first: bool


class InvalidNextTokenError(ClientError):
    code = "BadRequestException"  # GuardDuty's error for input it cannot use


def _token_signer(account_id: str, archived: bool) -> signing.Signer:
    # Salted per account and list: a token is an opaque position that cannot be forged.
    return signing.Signer(salt=f"audit-alerts:{account_id}:{archived}")


def _position(account_id: str, archived: bool, token: str) -> tuple[datetime.datetime, int]:
    try:
        raised_at, alert_id = _token_signer(account_id, archived).unsign(token).split("|")
        return datetime.datetime.fromisoformat(raised_at), int(alert_id)
    except (signing.BadSignature, ValueError):
        raise InvalidNextTokenError("The next page token is not valid.") from None


def alert_page(*, account_id: str, archived: bool, after: str | None = None,
               limit: int = PAGE_SIZE) -> AlertPage:
    """The account's open (or archived) alerts, newest first (keyset pages on raised_at, id)."""
    alerts = Alert.objects.filter(account_id=account_id, acknowledged_at__isnull=not archived)
    if after:
        raised_at, alert_id = _position(account_id, archived, after)
        alerts = alerts.filter(Q(raised_at__lt=raised_at) | Q(raised_at=raised_at,
                                                               id__lt=alert_id))
    rows = list(alerts.order_by("-raised_at", "-id")[:limit + 1])
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_token = _token_signer(account_id, archived).sign(
            f"{last.raised_at.isoformat()}|{last.id}")
    sequences = {sequence for alert in rows for sequence in alert.event_sequences}
    return AlertPage(alerts=rows, events=alert_events(account_id=account_id,
                                                      sequences=sequences),
                     next_token=next_token, first=not after)


def alert_in_account(*, account_id: str, alert_id: int, lock: bool = False) -> Alert:
    """The alert `alert_id` if it is the account's; NotFoundError otherwise (another account's
    alert is as unknown as one that never existed). `lock` holds its row until commit."""
    alerts = Alert.objects.select_for_update() if lock else Alert.objects
    alert = alerts.filter(account_id=account_id, pk=alert_id).first()
    if alert is None:
        raise NotFoundError(f"Alert {alert_id} does not exist.")
    return alert


def alert_events(*, account_id: str, sequences) -> dict[int, AuditEvent]:
    """The account's events with these sequences (those retention has not exported and
    deleted yet), by sequence: what an alert's links point to."""
    events = (AuditEvent.objects
              .filter(recipient_account_id=account_id, sequence__in=sorted(sequences))
              .only("sequence", "event_id", "event_name", "event_time", "error_code"))
    return {event.sequence: event for event in events}


# --- the Alerts page's services (the one door) ---------------------------------------------------

def detector_arn(caller: Caller) -> str:
    return f"arn:aws:guardduty:{caller.region}:{caller.account_id}:detector/{DETECTOR_ID}"


def _authorize(caller: Caller, action: str) -> None:
    authorize(caller, action, resource_account_id=caller.account_id,
              resource_arn=detector_arn(caller))


def alert_list(*, caller: Caller, archived: bool = False, after: str | None = None,
               limit: int = PAGE_SIZE) -> AlertPage:
    """ListFindings: a page of the account's open (or archived) alerts, newest first.

    Scans the newest events first, so the page is current without waiting for beat: the scan
    is incremental (it reads only the events since the last scan, usually a few), and runs
    only once the caller is authorized, so a refused caller cannot make the server work."""
    parameters = {"detectorId": DETECTOR_ID,
                  "findingCriteria": {"criterion": {"service.archived": {
                      "eq": ["true" if archived else "false"]}}},
                  "maxResults": limit}
    with operation(caller, "ListFindings", read_only=True, event_source=GUARDDUTY,
                   request_parameters=parameters):
        _authorize(caller, "guardduty:ListFindings")
        alerts_scan(max_batches=PAGE_SCAN_MAX_BATCHES)
        return alert_page(account_id=caller.account_id, archived=archived, after=after,
                          limit=limit)


@dataclass
class AlertDetail:
    """One alert and its triggering events that are still stored, by sequence."""

    alert: Alert
    events: dict[int, AuditEvent]


def alert_get(*, caller: Caller, alert_id: int) -> AlertDetail:
    """GetFindings: one alert of the caller's account and its triggering events."""
    with operation(caller, "GetFindings", read_only=True, event_source=GUARDDUTY,
                   request_parameters={"detectorId": DETECTOR_ID,
                                       "findingIds": [str(alert_id)]}):
        _authorize(caller, "guardduty:GetFindings")
        alert = alert_in_account(account_id=caller.account_id, alert_id=alert_id)
        return AlertDetail(alert=alert, events=alert_events(
            account_id=caller.account_id, sequences=alert.event_sequences))


def alert_archive(*, caller: Caller, alert_id: int) -> Alert:
    """ArchiveFindings: an administrator acknowledges the alert; it leaves the open list.
    Archiving an archived alert changes nothing (who acknowledged it first stays recorded)."""
    with operation(caller, "ArchiveFindings", read_only=False, event_source=GUARDDUTY,
                   request_parameters={"detectorId": DETECTOR_ID,
                                       "findingIds": [str(alert_id)]}):
        _authorize(caller, "guardduty:ArchiveFindings")
        alert = alert_in_account(account_id=caller.account_id, alert_id=alert_id, lock=True)
        if alert.acknowledged_at is None:
            alert.acknowledged_at = timezone.now()
            alert.acknowledged_by = caller.principal.arn
            alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
        return alert
