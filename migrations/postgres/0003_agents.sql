-- The call center: the skills an agent login has, with levels 1 (normal seat) to 5 (expert).

CREATE TABLE agent_skills (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    skill TEXT NOT NULL,
    level SMALLINT NOT NULL CHECK (level BETWEEN 1 AND 5),
    PRIMARY KEY (user_id, skill)
);

-- Calls answered by an agent: who, and how long the caller waited in the queue.
ALTER TABLE cdrs ADD COLUMN agent_id BIGINT REFERENCES users (id);
ALTER TABLE cdrs ADD COLUMN queue_wait_ms BIGINT;
CREATE INDEX cdrs_agent ON cdrs (agent_id, started_at);
