-- Call records keep who called beside the owner of a serial they typed, and a voicemail's
-- recording; a voicemail becomes an agent task to call back, also from callers the CRM does
-- not know (no customer, the number they called from).

-- customer_id is who called (or, when the caller ID matched nobody, the owner of the serial
-- they typed); serial_owner_id the owner of the serial typed in the IVR, who may be someone else.
ALTER TABLE cdrs ADD COLUMN serial_owner_id BIGINT REFERENCES customers (id);
CREATE INDEX cdrs_serial_owner ON cdrs (serial_owner_id);
-- The caller's message (a mono WAV under the voicemail directory).
ALTER TABLE cdrs ADD COLUMN voicemail TEXT;

ALTER TABLE agent_tasks DROP CONSTRAINT agent_tasks_kind_check;
ALTER TABLE agent_tasks ADD CONSTRAINT agent_tasks_kind_check CHECK (kind IN ('callback_no_answer', 'poor_survey',
    'complaint_escalated', 'complaint_follow_up', 'maintenance_due', 'warranty_expiring', 'birthday', 'voicemail'));
-- Null only for a voicemail from a caller the CRM does not know.
ALTER TABLE agent_tasks ALTER COLUMN customer_id DROP NOT NULL;
-- The number to call back (a voicemail's caller ID), and the call that raised the task.
ALTER TABLE agent_tasks ADD COLUMN callback_number TEXT;
ALTER TABLE agent_tasks ADD COLUMN cdr_id BIGINT REFERENCES cdrs (id);
ALTER TABLE agent_tasks ADD CONSTRAINT agent_tasks_who CHECK (customer_id IS NOT NULL OR callback_number IS NOT NULL);
