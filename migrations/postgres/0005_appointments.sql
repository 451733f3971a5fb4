-- An appointment agreed with the customer: the technician arrives between from and to.
ALTER TABLE repair_orders ADD COLUMN appointment_from TIMESTAMPTZ;
ALTER TABLE repair_orders ADD COLUMN appointment_to TIMESTAMPTZ;
