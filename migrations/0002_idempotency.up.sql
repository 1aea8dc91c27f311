-- Idempotency keys of creating POSTs (Idempotency-Key header), per tenant and user, kept 24 hours.
-- A row is written in the same transaction as the resource it creates, so a key is recorded if and
-- only if its resource exists; a concurrent request with the same key waits on the primary key.
CREATE TABLE idempotency_keys (
    tenant_id    text        NOT NULL,
    user_id      text        NOT NULL,
    key          text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the method, path, query and canonical JSON body.
    request_hash bytea       NOT NULL,
    operation    text        NOT NULL,
    status       integer     NOT NULL,
    -- Only the headers a replay needs (Content-Type, Location, ETag); bodies are the masked responses.
    headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    body         bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
