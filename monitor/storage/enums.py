"""The stored vocabulary: every state, severity and kind the database keeps, as enums.

Each becomes a CHECK constraint on its column (see types.enum_column), so a value the code does not
know can never be written by anyone. This module imports only the standard library: the pure
packages (detection, policy, the status page's shapes) share these names without touching storage.
"""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How bad an outage is; the names are Atlassian Statuspage's component statuses."""

    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"


class ComponentStatus(StrEnum):
    """What a component shows publicly. `unknown` is PortalWatch's own: nobody is watching it."""

    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"
    UNKNOWN = "unknown"


class OutageSource(StrEnum):
    """Who recorded an outage: PortalWatch's own probes, or ops declaring one the probes did not see."""

    OBSERVED = "observed"
    DECLARED = "declared"


class MaintenanceSource(StrEnum):
    CONFIG = "config"  # listed in the configuration file (one-off or recurring)
    API = "api"  # announced through the ops API


class Language(StrEnum):
    """The official language a case's holder is written to in."""

    EN = "en"
    FR = "fr"


class DecisionChange(StrEnum):
    """What one entry of a case's relief history records."""

    GRANTED = "granted"  # relief first given
    EXTENDED = "extended"  # the deadline moved later
    UPDATED = "updated"  # rules, outages or status changed, the deadline did not
    FINALISED = "finalised"  # every outage it rests on has ended
    HELD = "held"  # the policy now gives less (a correction): recorded and shown, not applied
    FLAGGED = "flagged"  # not extendable: the case is marked affected, its deadline kept


class CheckKind(StrEnum):
    """Why a check ran: its place in the schedule, or to confirm at once what a scheduled check just saw."""

    SCHEDULED = "scheduled"  # its slot is a slot of the probe's interval grid
    CONFIRMATION = "confirmation"  # its slot is the moment it was asked for, between two scheduled ones


class WatchState(StrEnum):
    """Whether checks of a component are arriving (see detection.staleness)."""

    WATCHED = "watched"
    UNKNOWN = "unknown"


class OutageChangeKind(StrEnum):
    OPENED = "opened"
    SEVERITY = "severity"  # its severity rose or fell while it was open
    REOPENED = "reopened"  # failures came back within merge_gap of its end: the same outage again
    ENDED = "ended"


class LocationSight(StrEnum):
    """Whether a location can reach the internet at all, as its control check says.

    A `blind` location's failures say nothing about the portal: they are recorded, never counted.
    """

    SEEING = "seeing"
    BLIND = "blind"


class EndReason(StrEnum):
    """Why an outage ended."""

    RECOVERED = "recovered"  # probes saw the component work again
    COMPONENT_REMOVED = "component_removed"  # no longer in the configuration: closed at its last failed check
    WATCH_REMOVED = "watch_removed"  # the probes or locations that saw it down were removed from the configuration


class EventKind(StrEnum):
    OUTAGE_OPENED = "opened"
    OUTAGE_RESOLVED = "resolved"
    MONITORING_LOST = "monitoring_lost"
    MONITORING_RESTORED = "monitoring_restored"
    CASES_IMPORTED = "cases_imported"
    DELIVERY_FAILING = "delivery_failing"
    OUTAGE_DECLARED = "declared"  # ops recorded an outage the probes did not see
    OUTAGE_CORRECTED = "corrected"  # ops corrected an outage's bounds
    MAINTENANCE_CHANGED = "maintenance_changed"  # a maintenance window was announced, changed or removed
    LOCATION_BLIND = "location_blind"  # a location failed its control check: its checks stop counting
    LOCATION_SEEING = "location_seeing"  # a blind location passed its control check again
    SEVERITY_CHANGED = "severity_changed"  # an open outage became worse or better
    OUTAGE_REOPENED = "reopened"  # failures came back within merge_gap of an outage's end
    OUTAGE_ACKNOWLEDGED = "acknowledged"  # someone on the desk said they are on it
    UPDATE_POSTED = "update_posted"  # a note about an outage, posted in Slack as a reply to its message
    REMINDER = "reminder"  # an open outage is still unacknowledged this long after it was posted


class LetterKind(StrEnum):
    """The letters PortalWatch issues; each is one signed bilingual PDF with its own verification code."""

    EXTENSION = "extension"  # a case's decision: original and new deadline, the rules, the outages
    PAPER_FILING = "paper_filing"  # a case's or an employer's paper-filing exemption for a period
    ATTESTATION = "attestation"  # what the record shows for a component over a period


class LetterState(StrEnum):
    PENDING = "pending"  # owed: the row is written with the decision, the PDF is made and signed after
    ISSUED = "issued"


class NoticeChannel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class NoticeState(StrEnum):
    PENDING = "pending"  # waiting for its letter, or for its next attempt
    SENT = "sent"


class Consumer(StrEnum):
    """Who acts on outbox events; each has its own delivery row per event."""

    RELIEF = "relief"
    SLACK = "slack"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    SUPERSEDED = "superseded"  # a later delivery to the same consumer about the same subject showed the newer state


class GrantStatus(StrEnum):
    PROVISIONAL = "provisional"  # the outage is still open: the new deadline may still move later
    FINAL = "final"


class ImportState(StrEnum):
    UPLOADING = "uploading"  # the body is still arriving; no worker takes it yet
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"  # the file had problems; nothing was imported
    FAILED = "failed"  # the import could not run (storage error); nothing was imported


class Role(StrEnum):
    """What a person may do: read (`viewer`), act on outages, maintenance and cases (`ops`), manage people (`admin`).

    Each role may do everything the roles before it may.
    """

    VIEWER = "viewer"
    OPS = "ops"
    ADMIN = "admin"


class AuditAction(StrEnum):
    """What one entry of the audit log records someone doing."""

    OUTAGE_DECLARED = "outage_declared"
    OUTAGE_CORRECTED = "outage_corrected"
    OUTAGE_FALSE_POSITIVE = "outage_false_positive"
    OUTAGE_ACKNOWLEDGED = "outage_acknowledged"
    OUTAGE_UPDATE_POSTED = "outage_update_posted"
    MAINTENANCE_ANNOUNCED = "maintenance_announced"
    MAINTENANCE_CANCELLED = "maintenance_cancelled"
    CASES_IMPORTED = "cases_imported"
    PERSON_CREATED = "person_created"
    PASSWORD_SET = "password_set"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    SLACK_USER_SET = "slack_user_set"


# Which consumers act on which kind of event.
CONSUMERS: dict[EventKind, tuple[Consumer, ...]] = {
    EventKind.OUTAGE_OPENED: (Consumer.RELIEF, Consumer.SLACK),
    EventKind.OUTAGE_RESOLVED: (Consumer.RELIEF, Consumer.SLACK),
    EventKind.MONITORING_LOST: (Consumer.SLACK,),
    EventKind.MONITORING_RESTORED: (Consumer.SLACK,),
    EventKind.CASES_IMPORTED: (Consumer.RELIEF,),
    EventKind.DELIVERY_FAILING: (Consumer.SLACK,),
    EventKind.OUTAGE_DECLARED: (Consumer.RELIEF, Consumer.SLACK),
    EventKind.OUTAGE_CORRECTED: (Consumer.RELIEF, Consumer.SLACK),  # Slack: its message shows the new facts
    EventKind.MAINTENANCE_CHANGED: (Consumer.RELIEF,),
    EventKind.LOCATION_BLIND: (Consumer.SLACK,),
    EventKind.LOCATION_SEEING: (Consumer.SLACK,),
    EventKind.SEVERITY_CHANGED: (Consumer.RELIEF, Consumer.SLACK),
    EventKind.OUTAGE_REOPENED: (Consumer.RELIEF, Consumer.SLACK),
    EventKind.OUTAGE_ACKNOWLEDGED: (Consumer.SLACK,),
    EventKind.UPDATE_POSTED: (Consumer.SLACK,),
    EventKind.REMINDER: (Consumer.SLACK,),
}
