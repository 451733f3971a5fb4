-- Two new roles: a station's manager (scoped to users.station_id) and the manufacturer's claims
-- reviewer. Kept in step with ../postgres/0012_roles.sql.
--
-- SQLite cannot change a CHECK in place, and many tables reference users. Migrations run inside
-- a transaction, where foreign keys cannot be switched off, so the checks are deferred instead:
-- dropping users counts the rows that refer to it, and putting every user back under the same
-- name and id counts them off again, so the transaction commits with nothing dangling.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_copy AS SELECT id, username, display_name, role, technician_id, password_hash, created_at,
    station_id, region FROM users;
DROP TABLE users;
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent', 'technician', 'station_manager', 'reviewer')),
    technician_id BIGINT,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    station_id INTEGER REFERENCES stations (id),
    region TEXT
);
INSERT INTO users (id, username, display_name, role, technician_id, password_hash, created_at, station_id, region)
    SELECT id, username, display_name, role, technician_id, password_hash, created_at, station_id, region FROM users_copy;
DROP TABLE users_copy;
