-- A call is filed once: the agent desk's wrap-up claims its Call-ID before writing the note,
-- service request and repair order, so pressing Save again (or a retry racing the first)
-- gets the first answer instead of a second set of records.
CREATE TABLE wrap_ups (
    call_id TEXT PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    fingerprint TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id),
    at TEXT NOT NULL,
    interaction_id INTEGER REFERENCES interactions (id),
    ticket_id INTEGER REFERENCES tickets (id),
    repair_order_id INTEGER REFERENCES repair_orders (id)
);

-- Imports match rows to customers by e-mail address regardless of case.
CREATE INDEX customers_email_lower ON customers (lower(email));
