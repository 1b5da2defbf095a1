"""The relief policy as pure rules: which outages count for a case, and the deadline they extend it to."""

from exemptions.policy.calendar import BusinessCalendar, business_calendar
from exemptions.policy.maintenance import occurrences
from exemptions.policy.model import (
    CalendarSpec,
    Decision,
    Downtime,
    MaintenanceWindow,
    PaperPeriod,
    ReliefPolicy,
    Rule,
    Span,
    Step,
)
from exemptions.policy.paper import paper_periods
from exemptions.policy.rules import counted_spans, decide, downtime_minutes_on, first_accessible_business_day

__all__ = [
    "BusinessCalendar",
    "CalendarSpec",
    "Decision",
    "Downtime",
    "MaintenanceWindow",
    "PaperPeriod",
    "ReliefPolicy",
    "Rule",
    "Span",
    "Step",
    "business_calendar",
    "counted_spans",
    "decide",
    "downtime_minutes_on",
    "first_accessible_business_day",
    "occurrences",
    "paper_periods",
]
