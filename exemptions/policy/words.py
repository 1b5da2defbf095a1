"""The relief rules in plain words, in both official languages: what letters and self-service pages say.

A decision's stored explanation is one English line per rule with the figures of that case; holders
also need to read which rules applied in their own language, so each rule has one sentence here in
English and French, equally authoritative.
"""

from __future__ import annotations

from exemptions.policy.model import Rule

RULE_WORDS: dict[Rule, tuple[str, str]] = {
    Rule.DEADLINE_DAY: (
        "The portal was out of service on the day of the deadline, before the deadline.",
        "Le portail était hors service le jour de l'échéance, avant l'heure limite.",
    ),
    Rule.LAST_HOUR: (
        "The portal was out of service in the last hour before the deadline.",
        "Le portail était hors service au cours de la dernière heure précédant l'échéance.",
    ),
    Rule.LONG_OUTAGE: (
        "A long outage of the portal in the weeks before the deadline shortened the time to file.",
        "Une longue panne du portail dans les semaines précédant l'échéance a réduit le temps de dépôt.",
    ),
    Rule.GRACE: (
        "After the portal came back, the holder has business days of grace to file.",
        "Après le rétablissement du portail, le titulaire dispose de jours ouvrables de grâce pour déposer.",
    ),
    Rule.GRACE_DAYS: (
        "After the portal came back, the holder has calendar days of grace to file.",
        "Après le rétablissement du portail, le titulaire dispose de jours civils de grâce pour déposer.",
    ),
    Rule.PAPER_FILING: (
        "The outage lasted long enough that filing on paper or by other means is authorised.",
        "La panne a duré assez longtemps pour que le dépôt sur papier ou par un autre moyen soit autorisé.",
    ),
}


def rule_words(rule: str) -> tuple[str, str]:
    """The English and French sentence for a stored rule name; an unknown name is shown as it is."""
    try:
        return RULE_WORDS[Rule(rule)]
    except ValueError:
        return rule, rule
