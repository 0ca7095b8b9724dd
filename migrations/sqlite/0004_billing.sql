-- Billing with Stripe: the usage ledger, the webhook events already handled, and the
-- outbox of platform-paid usage still to report to Stripe's Billing Meters.

-- One row per answer, written in the same transaction as the answer. No reference to
-- conversations: deleting a conversation never changes a month's usage or a bill.
CREATE TABLE usage_ledger (
    message_id                  TEXT    PRIMARY KEY,
    user_id                     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    model                       TEXT    NOT NULL,
    input_tokens                INTEGER NOT NULL DEFAULT 0,
    output_tokens               INTEGER NOT NULL DEFAULT 0,
    cache_creation_input_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_input_tokens     INTEGER NOT NULL DEFAULT 0,
    payer                       TEXT    NOT NULL CHECK (payer IN ('byok', 'platform')),
    created_at                  TEXT    NOT NULL
);
CREATE INDEX usage_ledger_by_user ON usage_ledger (user_id, created_at);

-- Stripe webhook events that took effect; an id here is never applied again.
CREATE TABLE stripe_events (
    id              TEXT    PRIMARY KEY,
    type            TEXT    NOT NULL,
    -- Stripe's `created` (Unix seconds): an older event never undoes a newer one.
    created         INTEGER NOT NULL,
    subscription_id TEXT,
    received_at     TEXT    NOT NULL
);
CREATE INDEX stripe_events_by_subscription ON stripe_events (subscription_id, created);

-- Platform-paid answers to report to Stripe, one row each, until Stripe accepts them.
-- A worker claims a row by setting `claimed_until` (a lease) in one statement; a worker
-- that dies leaves the lease to run out, and the row is claimed again.
CREATE TABLE meter_outbox (
    message_id         TEXT    PRIMARY KEY,
    user_id            INTEGER NOT NULL,
    stripe_customer_id TEXT    NOT NULL,
    value              INTEGER NOT NULL CHECK (value >= 0),
    occurred_at        TEXT    NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    TEXT    NOT NULL,
    claimed_until      TEXT,
    claimed_by         TEXT,
    reported_at        TEXT,
    -- Stripe refused the report for good (never retried); kept for the operator.
    failed_at          TEXT,
    last_error         TEXT
);
CREATE INDEX meter_outbox_due ON meter_outbox (next_attempt_at)
    WHERE reported_at IS NULL AND failed_at IS NULL;

-- Webhooks find their user by Stripe customer.
CREATE INDEX users_stripe_customer
    ON users (json_extract(settings, '$.subscription.stripe_customer_id'));
