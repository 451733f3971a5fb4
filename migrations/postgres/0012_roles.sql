-- Two new roles: a station's manager (scoped to users.station_id) and the manufacturer's claims
-- reviewer. Kept in step with ../sqlite/0012_roles.sql, which has to rebuild the table.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'supervisor', 'agent', 'technician', 'station_manager', 'reviewer'));
