-- A typed serial's owner is kept beside the caller: customer_id is who called (or, when the
-- caller ID matched nobody, the owner of the serial they typed); serial_owner_id is the owner of
-- the serial typed in the IVR, who may be someone else (a neighbour asking for a relative).
ALTER TABLE cdrs ADD COLUMN serial_owner_id BIGINT REFERENCES customers (id);
CREATE INDEX cdrs_serial_owner ON cdrs (serial_owner_id);
