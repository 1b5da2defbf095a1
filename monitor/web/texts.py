"""Every word the self-service pages show, in English and in French, and how they show times.

The catalogue is one plain dict per language, kept side by side in this file so a translator sees
both: every key of ENGLISH is in FRENCH and nothing else is, and both say the same thing (a test holds
them to the same keys). French follows Canadian usage: a non-breaking space before a colon and inside
guillemets, none before ; ? or !, the 24-hour clock written `10 h 30`.

The relief rules' sentences are not repeated here: they come from exemptions.policy.words, which the
letters quote too, under the keys `rule_<name>`.

A page's language is the `?lang=` query parameter, else a `lang` form field, else the browser's
preference between the two, else English.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from flask import request

from exemptions.letters import display, normalise
from exemptions.policy.words import RULE_WORDS
from monitor.timefmt import NBSP, spoken

LANGUAGES = ("en", "fr")


ENGLISH: dict[str, str] = {
    # The frame of every page
    "skip_link": "Skip to main content",
    "nav_label": "Self-service",
    "nav_verify": "Check a letter",
    "nav_case": "Look up your case",
    "nav_paper": "Ask for a paper-filing letter",
    "nav_status": "Portal status",
    "other_language": "Français",
    "footer": "Letters issued here are signed digitally. Anyone who has a letter's code can check it on this site.",
    "all_required": "All fields are required.",
    "error_prefix": "Error:",
    "times_in_zone": "Times are shown in this time zone:",
    "start": "Start",
    "end": "End",
    "until_further_notice": "until further notice",
    "still_ongoing": "still ongoing",
    # Checking a letter: the form
    "verify_form_title": "Check a letter",
    "verify_form_intro": (
        "Every letter we issue carries a verification code. Enter the code to see what the letter grants, or send"
        " us the PDF file to confirm that it has not been altered."
    ),
    "code_heading": "Check by code",
    "code_label": "Verification code",
    "code_hint": (
        "It is printed on the letter, for example 7KQ2-M9XD3-FPAV. Dashes and spaces are optional, and upper or"
        " lower case both work."
    ),
    "code_submit": "Check the code",
    "form_expired_title": "Please send the form again",
    "form_reload": "Open the form again",
    "form_expired": "This form has expired or was not sent from our page. Reload the page and try again.",
    "code_malformed": (
        "This is not a verification code. A code has 13 letters and digits, for example 7KQ2-M9XD3-FPAV."
    ),
    "file_heading": "Check a PDF file",
    "file_label": "Letter (PDF file)",
    "file_hint": (
        "We compare the file byte for byte with the copy we issued and check its digital signature. The file is"
        " not kept."
    ),
    "file_submit": "Check the file",
    # Checking a letter: the answer
    "verify_title": "Letter verification",
    "status_valid_label": "Valid.",
    "status_valid_text": "We issued this letter, and no newer letter replaces it.",
    "status_superseded_label": "Valid, but replaced.",
    "status_superseded_text": "We issued this letter, but a newer letter replaces it. Rely on the newer letter:",
    "status_not_found_label": "Not found.",
    "status_not_found_text": "No letter was issued with this code:",
    "not_found_help": (
        "Check the code against the letter and try again. If the code is correct and is still not found, the"
        " letter was not issued by this service."
    ),
    "details_heading": "What the letter says",
    "field_kind": "Type of letter",
    "field_holder": "Issued to",
    "field_issued": "Issued on",
    "field_component": "Portal service",
    "field_outage": "Outage recorded",
    "field_grants": "What it grants",
    "field_evidence": "Digest of the outage record (SHA-256)",
    "field_sha256": "Fingerprint of the PDF file (SHA-256)",
    "field_issuer": "Issued by",
    "field_address": "Address of this page",
    "kind_extension": "Deadline extension",
    "kind_paper_filing": "Paper-filing exemption",
    "kind_attestation": "Outage attestation",
    "grants_extension": "An extension: the deadline is moved from the original deadline to the new deadline below.",
    "grants_paper_filing": (
        "An exemption from filing on the portal: filing on paper or by other means is accepted during the period below."
    ),
    "grants_attestation": (
        "An attestation of what the portal's record shows. It does not by itself extend a deadline or authorize"
        " paper filing."
    ),
    "original_deadline": "Original deadline",
    "new_deadline": "New deadline",
    "rules_applied": "Rules applied",
    "download_pdf": "Download the letter (PDF)",
    "check_copy_heading": "Check your copy of the file",
    "check_copy_intro": "To make sure that a PDF file you received is this letter, unaltered, check it here.",
    "letter_times_zone": "Times are shown in the letter's time zone:",
    # Checking a file
    "file_check_title": "File check",
    "file_genuine_label": "Genuine.",
    "file_genuine_text": (
        "This file is exactly the letter we issued with this code, and its digital signature is ours."
    ),
    "file_not_genuine_label": "Not genuine.",
    "file_not_genuine_text": (
        "This file is not a letter we issued, or it was altered after we issued it. Do not rely on it."
    ),
    "file_reason": "Details of the check",
    "file_claims": "The file presents itself as the letter with this code. See what we issued under it:",
    "file_sha256": "Fingerprint of the file you sent (SHA-256)",
    "view_letter": "See the letter's verification page",
    "check_another": "Check another letter",
    # Looking up a case
    "case_title": "Look up your case",
    "case_intro": (
        "Enter your case number and access code to see your deadline, any extension granted because of a portal"
        " outage, and your letters."
    ),
    "case_id_label": "Case number",
    "case_id_hint": "As written on your notices.",
    "access_code_label": "Access code",
    "access_code_hint": (
        "The code given to you with your case. Upper or lower case both work; spaces and dashes are optional."
    ),
    "case_submit": "Look up",
    "case_not_found": "No case matches this case number and access code. Check both and try again.",
    "case_heading": "Case",
    "effective_deadline": "Your deadline",
    "deadline_extended": "Extended because of a portal outage. Original deadline:",
    "deadline_not_extended": "This is your original deadline: no extension has been granted.",
    "deadline_fixed": "This deadline cannot be extended. Any outage that affected it is recorded on your case.",
    "case_times_zone": "Times are shown in your case's time zone:",
    "decision_heading": "Decision",
    "decision_none": "No portal outage has affected this deadline so far.",
    "decision_provisional": (
        "Provisional: an outage it rests on is still going on, so the deadline may be moved later still."
    ),
    "decision_final": "Final: every outage it rests on has ended.",
    "decision_rules": "Rules applied:",
    "paper_heading": "Filing on paper",
    "paper_authorised": "Filing on paper or by other means is authorized for this case during:",
    "paper_not_authorised": "Filing on paper is not authorized for this case: file on the portal.",
    "letters_heading": "Your letters",
    "letters_none": "No letter has been issued for this case.",
    "letters_pending": "Letters being prepared (come back in a few minutes):",
    "col_letter": "Letter",
    "col_code": "Code",
    "col_issued": "Issued on",
    "col_status": "Status",
    "col_links": "Documents",
    "letter_current": "In force",
    "letter_replaced": "Replaced by",
    "link_download": "Download (PDF)",
    "link_verify": "Verify",
    # Asking for a paper-filing letter
    "paper_title": "Ask for a paper-filing letter",
    "paper_intro": (
        "If you could not use the portal, tell us which service and when. We check our record of the portal: if"
        " a long enough outage covers that time, you get a paper-filing exemption letter right away; if a shorter"
        " outage covers it, an outage attestation; if nothing was recorded, you see what our checks found around"
        " that time."
    ),
    "component_label": "Portal service you tried to use",
    "component_choose": "Choose a service",
    "when_legend": "When did you try?",
    "attempted_at_label": "Date and time",
    "attempted_at_hint": "The date and time of your attempt, in the time zone chosen below. It must be in the past.",
    "time_zone_label": "Time zone",
    "organisation_label": "Name of your organization",
    "organisation_hint": "The employer or representative the letter is for. This name is printed on the letter.",
    "email_label": "Email address",
    "email_hint": "For follow-up on your request.",
    "language_legend": "Preferred language",
    "language_en": "English",
    "language_fr": "French",
    "paper_submit": "Send the request",
    "form_heading": "Your request",
    "error_component": "Choose the portal service you tried to use.",
    "error_attempted_at": "Enter the date and time of your attempt. It must be in the past.",
    "error_time_zone": "Choose a time zone.",
    "error_organisation": "Enter the name of your organization (at most 200 characters).",
    "error_email": "Enter an email address like name@example.ca.",
    "error_language": "Choose English or French.",
    "error_form": "The request could not be read. Fill in every field and send it again.",
    "answer_heading": "Result",
    "request_number": "Request number",
    "attempted_at_shown": "Time of your attempt",
    "answer_covered_label": "Paper filing authorized.",
    "answer_covered_text": (
        "A long enough outage covers the time you gave. Filing on paper or by other means is accepted during this"
        " period:"
    ),
    "answer_attestation_label": "Paper filing not authorized.",
    "answer_attestation_text": (
        "An outage covers the time you gave, but it does not authorize paper filing. Your letter attests what the"
        " record shows."
    ),
    "answer_reason": "Reason:",
    "answer_nothing_label": "Nothing recorded.",
    "answer_nothing_text": (
        "Nothing was recorded for this service at that time: no outage and no paper-filing authorization. Here is"
        " what our checks found from an hour before to an hour after."
    ),
    "your_letter": "Your letter",
    "letter_delayed": (
        "Your letter could not be made right away. Keep your request number: it identifies your request if you"
        " contact us."
    ),
    "availability_caption": "Checks of the service, by location",
    "period_label": "Period",
    "col_location": "Location",
    "col_checks": "Checks",
    "col_ok": "Succeeded",
    "col_failed": "Failed",
    "col_first": "First check",
    "col_last": "Last check",
    "all_locations": "All locations",
    "availability_none": (
        "Our checks recorded nothing for this service in that period, so the record cannot speak for that time."
    ),
    # Time zones offered on the paper-filing form
    "zone_America/St_Johns": "Newfoundland Time (St. John's)",
    "zone_America/Halifax": "Atlantic Time (Halifax)",
    "zone_America/Toronto": "Eastern Time (Toronto, Ottawa)",
    "zone_America/Winnipeg": "Central Time (Winnipeg)",
    "zone_America/Regina": "Central Standard Time all year (Regina)",
    "zone_America/Edmonton": "Mountain Time (Edmonton)",
    "zone_America/Vancouver": "Pacific Time (Vancouver)",
    "zone_America/Whitehorse": "Yukon Time (Whitehorse)",
}

FRENCH: dict[str, str] = {
    # Le cadre de chaque page
    "skip_link": "Passer au contenu principal",
    "nav_label": "Libre-service",
    "nav_verify": "Vérifier une lettre",
    "nav_case": "Consulter votre dossier",
    "nav_paper": "Demander une lettre de dépôt sur papier",
    "nav_status": "État du portail (en anglais)",
    "other_language": "English",
    "footer": (
        "Les lettres délivrées ici sont signées numériquement. Quiconque a le code d'une lettre peut la vérifier"
        " sur ce site."
    ),
    "all_required": "Tous les champs sont obligatoires.",
    "error_prefix": f"Erreur{NBSP}:",
    "times_in_zone": f"Les heures sont indiquées dans ce fuseau horaire{NBSP}:",
    "start": "Début",
    "end": "Fin",
    "until_further_notice": "jusqu'à nouvel ordre",
    "still_ongoing": "toujours en cours",
    # Vérifier une lettre : le formulaire
    "verify_form_title": "Vérifier une lettre",
    "verify_form_intro": (
        "Chaque lettre que nous délivrons porte un code de vérification. Entrez ce code pour voir ce que la lettre"
        " accorde, ou transmettez-nous le fichier PDF pour confirmer qu'il n'a pas été modifié."
    ),
    "code_heading": "Vérifier à l'aide du code",
    "code_label": "Code de vérification",
    "code_hint": (
        "Il figure sur la lettre, par exemple 7KQ2-M9XD3-FPAV. Les tirets et les espaces sont facultatifs; les"
        " majuscules et les minuscules sont acceptées."
    ),
    "code_submit": "Vérifier le code",
    "form_expired_title": "Veuillez renvoyer le formulaire",
    "form_reload": "Rouvrir le formulaire",
    "form_expired": "Ce formulaire a expiré ou n’a pas été envoyé depuis notre page. Rechargez la page et réessayez.",
    "code_malformed": (
        "Ce n'est pas un code de vérification. Un code compte 13 lettres et chiffres, par exemple 7KQ2-M9XD3-FPAV."
    ),
    "file_heading": "Vérifier un fichier PDF",
    "file_label": "Lettre (fichier PDF)",
    "file_hint": (
        "Nous comparons le fichier, octet par octet, à la copie que nous avons délivrée et nous vérifions sa"
        " signature numérique. Le fichier n'est pas conservé."
    ),
    "file_submit": "Vérifier le fichier",
    # Vérifier une lettre : la réponse
    "verify_title": "Vérification d'une lettre",
    "status_valid_label": "Valide.",
    "status_valid_text": "Nous avons délivré cette lettre, et aucune lettre plus récente ne la remplace.",
    "status_superseded_label": "Valide, mais remplacée.",
    "status_superseded_text": (
        f"Nous avons délivré cette lettre, mais une lettre plus récente la remplace. Fiez-vous à la nouvelle"
        f" lettre{NBSP}:"
    ),
    "status_not_found_label": "Introuvable.",
    "status_not_found_text": f"Aucune lettre n'a été délivrée avec ce code{NBSP}:",
    "not_found_help": (
        "Comparez le code avec celui de la lettre et réessayez. Si le code est exact et reste introuvable, la"
        " lettre n'a pas été délivrée par ce service."
    ),
    "details_heading": "Contenu de la lettre",
    "field_kind": "Type de lettre",
    "field_holder": "Délivrée à",
    "field_issued": "Date de délivrance",
    "field_component": "Service du portail",
    "field_outage": "Panne enregistrée",
    "field_grants": "Ce qu'elle accorde",
    "field_evidence": "Condensé du registre des pannes (SHA-256)",
    "field_sha256": "Empreinte du fichier PDF (SHA-256)",
    "field_issuer": "Délivrée par",
    "field_address": "Adresse de cette page",
    "kind_extension": "Prolongation du délai",
    "kind_paper_filing": "Exemption de dépôt sur papier",
    "kind_attestation": "Attestation de panne",
    "grants_extension": (
        f"Une prolongation{NBSP}: l'échéance est reportée de l'échéance initiale à la nouvelle échéance indiquée"
        f" ci-dessous."
    ),
    "grants_paper_filing": (
        f"Une exemption du dépôt par le portail{NBSP}: le dépôt sur papier ou par un autre moyen est accepté"
        f" pendant la période indiquée ci-dessous."
    ),
    "grants_attestation": (
        "Une attestation de ce qu'indique le registre du portail. Elle ne prolonge pas à elle seule une échéance et"
        " n'autorise pas le dépôt sur papier."
    ),
    "original_deadline": "Échéance initiale",
    "new_deadline": "Nouvelle échéance",
    "rules_applied": "Règles appliquées",
    "download_pdf": "Télécharger la lettre (PDF)",
    "check_copy_heading": "Vérifier votre copie du fichier",
    "check_copy_intro": (
        "Pour vous assurer qu'un fichier PDF que vous avez reçu est bien cette lettre, sans modification,"
        " vérifiez-le ici."
    ),
    "letter_times_zone": f"Les heures sont indiquées dans le fuseau horaire de la lettre{NBSP}:",
    # Vérifier un fichier
    "file_check_title": "Vérification d'un fichier",
    "file_genuine_label": "Authentique.",
    "file_genuine_text": (
        "Ce fichier est exactement la lettre que nous avons délivrée avec ce code, et sa signature numérique est"
        " la nôtre."
    ),
    "file_not_genuine_label": "Non authentique.",
    "file_not_genuine_text": (
        "Ce fichier n'est pas une lettre que nous avons délivrée, ou il a été modifié après sa délivrance. Ne vous"
        " y fiez pas."
    ),
    "file_reason": "Détails de la vérification (en anglais)",
    "file_claims": (
        f"Le fichier se présente comme la lettre portant ce code. Voyez ce que nous avons délivré sous ce code{NBSP}:"
    ),
    "file_sha256": "Empreinte du fichier transmis (SHA-256)",
    "view_letter": "Voir la page de vérification de la lettre",
    "check_another": "Vérifier une autre lettre",
    # Consulter un dossier
    "case_title": "Consulter votre dossier",
    "case_intro": (
        "Entrez votre numéro de dossier et votre code d'accès pour voir votre échéance, toute prolongation accordée"
        " en raison d'une panne du portail et vos lettres."
    ),
    "case_id_label": "Numéro de dossier",
    "case_id_hint": "Tel qu'il figure sur vos avis.",
    "access_code_label": "Code d'accès",
    "access_code_hint": (
        "Le code qui vous a été remis avec votre dossier. Les majuscules et les minuscules sont acceptées; les"
        " espaces et les tirets sont facultatifs."
    ),
    "case_submit": "Consulter",
    "case_not_found": (
        "Aucun dossier ne correspond à ce numéro de dossier et à ce code d'accès. Vérifiez-les et réessayez."
    ),
    "case_heading": "Dossier",
    "effective_deadline": "Votre échéance",
    "deadline_extended": f"Prolongée en raison d'une panne du portail. Échéance initiale{NBSP}:",
    "deadline_not_extended": f"Il s'agit de votre échéance initiale{NBSP}: aucune prolongation n'a été accordée.",
    "deadline_fixed": (
        "Cette échéance ne peut pas être prolongée. Toute panne qui l'a touchée est consignée dans votre dossier."
    ),
    "case_times_zone": f"Les heures sont indiquées dans le fuseau horaire de votre dossier{NBSP}:",
    "decision_heading": "Décision",
    "decision_none": "Aucune panne du portail n'a touché cette échéance jusqu'à présent.",
    "decision_provisional": (
        f"Provisoire{NBSP}: une panne sur laquelle elle repose est toujours en cours; l'échéance pourrait donc"
        f" être reportée davantage."
    ),
    "decision_final": f"Définitive{NBSP}: toutes les pannes sur lesquelles elle repose sont terminées.",
    "decision_rules": f"Règles appliquées{NBSP}:",
    "paper_heading": "Dépôt sur papier",
    "paper_authorised": f"Le dépôt sur papier ou par un autre moyen est autorisé pour ce dossier pendant{NBSP}:",
    "paper_not_authorised": (
        f"Le dépôt sur papier n'est pas autorisé pour ce dossier{NBSP}: effectuez le dépôt par le portail."
    ),
    "letters_heading": "Vos lettres",
    "letters_none": "Aucune lettre n'a été délivrée pour ce dossier.",
    "letters_pending": f"Lettres en préparation (revenez dans quelques minutes){NBSP}:",
    "col_letter": "Lettre",
    "col_code": "Code",
    "col_issued": "Délivrée le",
    "col_status": "État",
    "col_links": "Documents",
    "letter_current": "En vigueur",
    "letter_replaced": "Remplacée par",
    "link_download": "Télécharger (PDF)",
    "link_verify": "Vérifier",
    # Demander une lettre de dépôt sur papier
    "paper_title": "Demander une lettre de dépôt sur papier",
    "paper_intro": (
        f"Si vous n'avez pas pu utiliser le portail, indiquez-nous quel service et à quel moment. Nous consultons"
        f" notre registre du portail{NBSP}: si une panne assez longue couvre ce moment, vous recevez aussitôt une"
        f" lettre d'exemption de dépôt sur papier; si une panne plus courte le couvre, une attestation de panne; si"
        f" rien n'a été enregistré, vous voyez ce que nos vérifications ont constaté autour de ce moment."
    ),
    "component_label": "Service du portail que vous avez tenté d'utiliser",
    "component_choose": "Choisissez un service",
    "when_legend": "Quand avez-vous essayé?",
    "attempted_at_label": "Date et heure",
    "attempted_at_hint": (
        "La date et l'heure de votre tentative, selon le fuseau horaire choisi ci-dessous. Elles doivent être passées."
    ),
    "time_zone_label": "Fuseau horaire",
    "organisation_label": "Nom de votre organisation",
    "organisation_hint": "L'employeur ou le représentant à qui la lettre est destinée. Ce nom figure sur la lettre.",
    "email_label": "Adresse courriel",
    "email_hint": "Pour le suivi de votre demande.",
    "language_legend": "Langue de préférence",
    "language_en": "Anglais",
    "language_fr": "Français",
    "paper_submit": "Envoyer la demande",
    "form_heading": "Votre demande",
    "error_component": "Choisissez le service du portail que vous avez tenté d'utiliser.",
    "error_attempted_at": "Entrez la date et l'heure de votre tentative. Elles doivent être passées.",
    "error_time_zone": "Choisissez un fuseau horaire.",
    "error_organisation": "Entrez le nom de votre organisation (200 caractères au plus).",
    "error_email": "Entrez une adresse courriel comme nom@exemple.ca.",
    "error_language": "Choisissez l'anglais ou le français.",
    "error_form": "La demande n'a pas pu être lue. Remplissez tous les champs et envoyez-la de nouveau.",
    "answer_heading": "Résultat",
    "request_number": "Numéro de demande",
    "attempted_at_shown": "Moment de votre tentative",
    "answer_covered_label": "Dépôt sur papier autorisé.",
    "answer_covered_text": (
        f"Une panne assez longue couvre le moment indiqué. Le dépôt sur papier ou par un autre moyen est accepté"
        f" pendant cette période{NBSP}:"
    ),
    "answer_attestation_label": "Dépôt sur papier non autorisé.",
    "answer_attestation_text": (
        "Une panne couvre le moment indiqué, mais elle n'autorise pas le dépôt sur papier. Votre lettre atteste ce"
        " qu'indique le registre."
    ),
    "answer_reason": f"Motif{NBSP}:",
    "answer_nothing_label": "Rien d'enregistré.",
    "answer_nothing_text": (
        f"Rien n'a été enregistré pour ce service à ce moment{NBSP}: ni panne ni autorisation de dépôt sur papier."
        f" Voici ce que nos vérifications ont constaté d'une heure avant à une heure après."
    ),
    "your_letter": "Votre lettre",
    "letter_delayed": (
        f"Votre lettre n'a pas pu être produite immédiatement. Conservez votre numéro de demande{NBSP}: il"
        f" permet de retrouver votre demande si vous communiquez avec nous."
    ),
    "availability_caption": "Vérifications du service, par emplacement",
    "period_label": "Période",
    "col_location": "Emplacement",
    "col_checks": "Vérifications",
    "col_ok": "Réussies",
    "col_failed": "Échouées",
    "col_first": "Première vérification",
    "col_last": "Dernière vérification",
    "all_locations": "Tous les emplacements",
    "availability_none": (
        "Nos vérifications n'ont rien enregistré pour ce service pendant cette période; le registre ne peut donc"
        " rien établir pour ce moment."
    ),
    # Fuseaux horaires offerts dans le formulaire de dépôt sur papier
    "zone_America/St_Johns": "Heure de Terre-Neuve (St. John's)",
    "zone_America/Halifax": "Heure de l'Atlantique (Halifax)",
    "zone_America/Toronto": "Heure de l'Est (Toronto, Ottawa)",
    "zone_America/Winnipeg": "Heure du Centre (Winnipeg)",
    "zone_America/Regina": "Heure normale du Centre toute l'année (Regina)",
    "zone_America/Edmonton": "Heure des Rocheuses (Edmonton)",
    "zone_America/Vancouver": "Heure du Pacifique (Vancouver)",
    "zone_America/Whitehorse": "Heure du Yukon (Whitehorse)",
}


def _with_rules(catalogue: dict[str, str], index: int) -> Mapping[str, str]:
    words = {f"rule_{rule.value}": sentences[index] for rule, sentences in RULE_WORDS.items()}
    return MappingProxyType({**catalogue, **words})


_CATALOGUES: dict[str, Mapping[str, str]] = {"en": _with_rules(ENGLISH, 0), "fr": _with_rules(FRENCH, 1)}


def texts(lang: str) -> Mapping[str, str]:
    """Every string of the pages in `lang` ("en" or "fr"; anything else gets English)."""
    return _CATALOGUES.get(lang, _CATALOGUES["en"])


def language() -> str:
    """The request's language: `?lang=`, else a `lang` form field, else the browser's preference, else English."""
    for asked in (request.args.get("lang"), request.form.get("lang")):
        if asked in LANGUAGES:
            return str(asked)
    return str(request.accept_languages.best_match(list(LANGUAGES), "en"))


# --- times as people read them ----------------------------------------------------------------------


def when(value: str | datetime | None, zone: str, lang: str) -> str:
    """A moment as a reader says it (monitor.timefmt.spoken); an empty string for None, and a value that is
    not an ISO 8601 time with an offset shown as it is."""
    if value is None:
        return ""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            return str(value)
        return spoken(moment, zone, lang)
    except (ValueError, KeyError):
        return str(value)


def grouped(code: str | None) -> str:
    """A verification code as people read it, grouped `7KQ2-M9XD3-FPAV`; anything else as it is."""
    if not code:
        return ""
    canonical = normalise(code)
    return display(canonical) if canonical is not None else code
