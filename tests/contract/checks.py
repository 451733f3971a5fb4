"""Aftercare's contract checks for schemathesis (loaded with SCHEMATHESIS_HOOKS=checks).

The built-in `positive_data_acceptance` treats every 4xx to a schema-valid request as a failure.
Some of the server's rules cannot be written in JSON Schema: they relate two fields, compare
with today, or look at stored data. `valid_requests_are_accepted` replaces that check: a
schema-valid request may be refused only for one of the rules below, each matched by the
message the server gives. Any other refusal (a 400 or 422 naming a field the document allows)
is a defect in the document or the server.
"""

import re

import schemathesis

# (message pattern, the rule and why the document cannot state it)
RULES = [
    (r"^no [a-z_ ]+ with id -?\d+$", "a reference to a record that does not exist (stored data)"),
    (r"^no such [a-z_' ]+$", "a reference to a record that does not exist (stored data)"),
    (r"^required for technicians and only for them$", "role and technician_id together (two fields)"),
    (r"^required for service requests and repair orders$", "disposition and subject together (two fields)"),
    (r"^the asset belongs to another customer$|^the callback job is for another repair order$",
     "two references that must agree (stored data)"),
    (r"^a repair order needs (the asset|its service request)$", "the ticket has no asset / disposition and subject together"),
    (r"^assigning needs a technician$", "status and technician_id together (two fields)"),
    (r"^record the (fault code|work done and labour hours) before completing$", "the task's report so far (stored data)"),
    (r"^not a PNG image$|^not base64$|^empty file$", "the content of an upload (what the bytes are)"),
    (r"^sign does not fit reason \w+$", "delta and reason together (two fields)"),
    (r"^a settlement cannot cover days to come$", "compared with today (the clock)"),
    (r'^no IVR flow named ".*"$', "a reference to an IVR flow that is not loaded (configuration)"),
    (r"is not in the model's fault catalogue$", "a fault code outside the asset's model catalogue (stored data)"),
    (r"^a report covers at most 366 days$", "from and to together (two fields)"),
    (r"^must not be before from$", "from and to together (two fields)"),
    (r"^must not be before starts_on$", "starts_on and ends_on together (two fields)"),
    (r"^must be after from$", "an appointment's from and to together (two fields)"),
    (r"^at most 12 hours after from$", "an appointment's from and to together (two fields)"),
    (r"^must be after opens$", "opening hours' opens and closes together (two fields)"),
    (r"^a contract must cover parts or labor$", "covers_parts and covers_labor together (two fields)"),
    (r"^give exactly one of phone or serial$", "phone and serial together (two parameters)"),
    (r"^must differ from from_station_id$", "two fields together"),
    (r"(listed|counted) twice$", "uniqueness within a list (by one field of its items)"),
    (r"^must not be in the (future|past)$", "compared with today (the clock)"),
    (r"^must be within the last day and not in the future$", "compared with now (the clock)"),
    (r"^the window has begun or is over; offer one still to come$|^at most 365 days ahead$", "compared with now (the clock)"),
    (r"^outside the technician's shifts$", "the technician's shifts (stored data)"),
    (r"^the technician (lacks the skill .+|has no shift at that time); name an override_reason to assign anyway$",
     "the technician's skills and shifts (stored data)"),
    (r"^within a year of today$|^at most 365 days ahead$", "compared with today (the clock)"),
    (r"^must not be 0$", "a stock movement of zero (JSON Schema has no 'not equal' the generators read)"),
    (r"^the customer's address has no location$", "stored data"),
    (r"^(no_skill_match|no_capacity|window_infeasible|parts_missing|no_shift_left|out_of_reach)", "no technician can serve the order (stored data)"),
    (r"^the report is empty$", "a report needs one of its fields (one of several)"),
    (r"^(checking in needs the GPS position|say why the work cannot be completed)$", "an action and its fields together"),
    (r"^IBAN check digits do not match$", "an IBAN's check digits (arithmetic JSON Schema cannot do)"),
    (r"^a new station is applying or approved$", "a station's first status is a subset of the lifecycle"),
    (r"^must be above 0$", "a contract's labour rate is money above 0 (the money type allows 0 elsewhere)"),
    (r"^a cut pays more than 0 and less than the \d+ claimed$", "the line's claimed amount (stored data)"),
    (r"^(an approval takes no amount|a cut needs amount_minor|a rejection needs its code)", "a decision and its fields together"),
    (r"^a shipped part needs its carrier and tracking reference$", "a return step and its fields together"),
    (r"^only a part line has an old part$", "the line's kind (stored data)"),
    (r"^(a station manager needs their station|only a station manager has a station|only a supervisor is scoped to a region)$",
     "role and station_id or region together (two fields)"),
    (r"^(a dealer login needs its dealer|only a dealer login has a dealer)$", "role and dealer_id together (two fields)"),
    (r"^no asset has this VIN or serial$|^no part \d+$", "a reference to a record that does not exist (stored data)"),
    (r"^dealer [A-Za-z0-9-]+ is (suspended|terminated); only an active dealer registers sales$"
     r"|^dealer [A-Za-z0-9-]+'s agreement .* is not in force on \d{4}-\d{2}-\d{2}$", "the dealer's status and agreement (stored data)"),
    (r"^a dealer login registers its own dealer's sales$", "the login's dealer (stored data)"),
    (r"^before the production date \d{4}-\d{2}-\d{2}$", "the asset's production date (stored data)"),
    (r"^the inspection comes before the handover$|^ends before it starts$", "two dates together (two fields)"),
    (r"^give the buyer: customer_id or customer, not both$", "one of two fields"),
    (r"^a product that failed its delivery inspection is not handed over", "a sale needs a passed inspection (a field's value the request states)"),
    (r"^no (fault code recorded yet to look the standard time up|standard time for this model and .+): give the labour minutes$",
     "the order's fault code and the standard-time catalogue (stored data)"),
    (r"^part \d+ is not priced in [A-Z]{3}$", "the part's price (stored data)"),
    (r"^before the invoice date \d{4}-\d{2}-\d{2}$|^\d+ is more than the balance of \d+$|^the invoice is paid$",
     "the invoice's date and balance (stored data)"),
    (r"^say why the count differs from what was shipped$|^not on the order$|^more than ordered$",
     "a shipment or receipt against the order's lines (stored data)"),
    (r"^the repair order has no station; name the one to supply$|^name the station$", "the order's or the user's station (stored data)"),
    (r"^maintenance_due, warranty_expiring or birthday$", "a campaign's kind is one of the reminders (a subset of the task kinds)"),
]


@schemathesis.check
def valid_requests_are_accepted(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    # A stateful link whose source had no value fills the path with None: not a request the
    # document allows.
    if any(v is None for v in (case.path_parameters or {}).values()):
        return None
    status = response.status_code
    if status < 400 or status in (401, 403, 404, 409, 429):
        return None
    try:
        body = response.json()
    except Exception:
        body = {}
    message = body.get("message", "") if isinstance(body, dict) else ""
    if status in (400, 422) and any(re.search(p, message) for p, _ in RULES):
        return None
    raise AssertionError(f"a schema-valid request was refused: {status} {body}")
