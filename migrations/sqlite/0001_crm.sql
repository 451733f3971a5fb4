-- Aftercare CRM schema, SQLite. Kept table-for-table in step with ../postgres/0001_crm.sql.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin','supervisor','agent','technician')),
    technician_id BIGINT,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user_id BIGINT,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id BIGINT,
    detail TEXT NOT NULL
);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    search_name TEXT NOT NULL,
    email TEXT,
    time_zone TEXT NOT NULL,
    do_not_call INTEGER NOT NULL,
    marketing_consent INTEGER NOT NULL,
    birthday TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX customers_name_order ON customers(search_name, id);

CREATE TABLE customer_phones (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    e164 TEXT NOT NULL,
    label TEXT NOT NULL,
    UNIQUE (customer_id, e164)
);
CREATE INDEX customer_phones_e164 ON customer_phones(e164, customer_id);

CREATE TABLE customer_addresses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    label TEXT NOT NULL,
    line1 TEXT NOT NULL,
    line2 TEXT,
    postal_code TEXT NOT NULL,
    city TEXT NOT NULL,
    country TEXT NOT NULL,
    lat REAL,
    lon REAL
);
CREATE INDEX customer_addresses_customer ON customer_addresses(customer_id);

CREATE TABLE interactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    direction TEXT NOT NULL,
    at TEXT NOT NULL,
    summary TEXT NOT NULL,
    user_id BIGINT
);
CREATE INDEX interactions_customer_at ON interactions(customer_id, at DESC, id DESC);

CREATE TABLE product_models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    product_line TEXT NOT NULL,
    fault_codes TEXT NOT NULL,
    warranty TEXT
);

CREATE TABLE assets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    model_id BIGINT NOT NULL REFERENCES product_models(id),
    serial TEXT NOT NULL UNIQUE,
    vin TEXT UNIQUE,
    purchase_date TEXT NOT NULL,
    dealer TEXT,
    mileage_km BIGINT,
    operating_hours BIGINT
);
CREATE INDEX assets_customer ON assets(customer_id);

CREATE TABLE service_contracts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id BIGINT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    covers_parts INTEGER NOT NULL,
    covers_labor INTEGER NOT NULL
);
CREATE INDEX service_contracts_asset ON service_contracts(asset_id);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    asset_id BIGINT REFERENCES assets(id),
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX tickets_customer ON tickets(customer_id, id DESC);
CREATE INDEX tickets_status ON tickets(status, id DESC);

CREATE TABLE stations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    time_zone TEXT NOT NULL,
    skills TEXT NOT NULL,
    capacity_per_day BIGINT NOT NULL,
    opening_hours TEXT NOT NULL,
    rating REAL NOT NULL
);

CREATE TABLE technicians (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id BIGINT NOT NULL REFERENCES stations(id),
    name TEXT NOT NULL,
    skills TEXT NOT NULL,
    shifts TEXT NOT NULL,
    lat REAL,
    lon REAL,
    rating REAL NOT NULL
);
CREATE INDEX technicians_station ON technicians(station_id);

CREATE TABLE repair_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    asset_id BIGINT NOT NULL REFERENCES assets(id),
    station_id BIGINT REFERENCES stations(id),
    technician_id BIGINT REFERENCES technicians(id),
    status TEXT NOT NULL,
    fault_code TEXT,
    description TEXT NOT NULL,
    scheduled_for TEXT,
    created_at TEXT NOT NULL,
    completed_at TEXT
);
CREATE INDEX repair_orders_customer ON repair_orders(customer_id, id DESC);
CREATE INDEX repair_orders_technician ON repair_orders(technician_id, id DESC);
CREATE INDEX repair_orders_station ON repair_orders(station_id, id DESC);

-- Status history of tickets and repair orders ('ticket' / 'repair_order').
CREATE TABLE status_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    at TEXT NOT NULL,
    user_id BIGINT,
    note TEXT
);
CREATE INDEX status_history_subject ON status_history(subject, subject_id, id);

CREATE TABLE complaints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    ticket_id BIGINT REFERENCES tickets(id),
    repair_order_id BIGINT REFERENCES repair_orders(id),
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    description TEXT NOT NULL,
    owner_user_id BIGINT REFERENCES users(id),
    due_on TEXT,
    resolution TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX complaints_customer ON complaints(customer_id, id DESC);

CREATE TABLE parts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    currency TEXT NOT NULL,
    product_line TEXT,
    safety_stock BIGINT NOT NULL
);

CREATE TABLE station_stock (
    station_id BIGINT NOT NULL REFERENCES stations(id),
    part_id BIGINT NOT NULL REFERENCES parts(id),
    quantity BIGINT NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (station_id, part_id)
);

CREATE TABLE stock_movements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id BIGINT NOT NULL REFERENCES stations(id),
    part_id BIGINT NOT NULL REFERENCES parts(id),
    delta BIGINT NOT NULL,
    reason TEXT NOT NULL,
    reference TEXT NOT NULL,
    at TEXT NOT NULL,
    user_id BIGINT
);
CREATE INDEX stock_movements_station ON stock_movements(station_id, id DESC);

CREATE TABLE kb_articles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    product_line TEXT,
    fault_code TEXT,
    tags TEXT NOT NULL,
    search_text TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
