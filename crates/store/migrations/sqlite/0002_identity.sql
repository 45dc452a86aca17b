-- Identity (SQLite): people who sign in, their factors, single-use links, sessions and throttling.
-- Keep in step with migrations/postgres/0002_identity.sql. Times are unix seconds (UTC) so that
-- the web layer's clock, which tests can set, is the only clock these tables know.

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE,         -- normalised: trimmed, lower case
    display_name     TEXT NOT NULL,
    password_hash    TEXT,                         -- Argon2id PHC string; NULL until the person sets one
    platform_role    TEXT CHECK (platform_role IN ('operator')),
    status           TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    failed_attempts  BIGINT NOT NULL DEFAULT 0,   -- consecutive failed sign-ins
    next_attempt_at  BIGINT NOT NULL DEFAULT 0,    -- progressive delay: no password check before this
    locked           BOOLEAN NOT NULL DEFAULT FALSE, -- 100 consecutive failures; only a reset or a passkey unlocks
    created_at       BIGINT NOT NULL,
    last_sign_in_at  BIGINT
);

-- Single-use links: bootstrap of the first operator, invitations and password resets. Only the
-- SHA-256 of the token is kept.
CREATE TABLE links (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    purpose       TEXT NOT NULL CHECK (purpose IN ('bootstrap', 'invitation', 'reset')),
    email         TEXT,
    display_name  TEXT,
    user_id       TEXT REFERENCES users(id),
    created_by    TEXT REFERENCES users(id),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    withdrawn_at  BIGINT
);
CREATE INDEX links_email ON links (email) WHERE used_at IS NULL;

-- TOTP secrets, sealed under a key derived from the master key. last_step makes a code single use.
CREATE TABLE totp_factors (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id),
    label          TEXT NOT NULL,
    sealed_secret  BLOB NOT NULL,
    confirmed      BOOLEAN NOT NULL,
    last_step      BIGINT NOT NULL DEFAULT -1,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE INDEX totp_factors_user ON totp_factors (user_id);

-- WebAuthn passkeys (public keys only), as webauthn-rs serialises them.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    credential_id TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    passkey       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- Recovery codes: keyed hashes, each usable once.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users(id),
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- Server-side sessions. The cookie holds 256 random bits; only their SHA-256 is stored.
-- stage: 'enrol' (password accepted, no factor yet: only enrolment is reachable), 'mfa' (password
-- accepted, second factor due), 'full'. ceremony holds a WebAuthn ceremony's server-side state.
CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    stage         TEXT NOT NULL CHECK (stage IN ('enrol', 'mfa', 'full')),
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    mfa_at        BIGINT,
    client_ip     TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    ceremony      TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Ceremonies that happen before anyone is signed in (passkey sign-in), keyed by a random id.
CREATE TABLE ceremonies (
    id_hash     TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- Failed sign-ins per client address per window, for the per-address limit.
CREATE TABLE address_failures (
    client_ip     TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    failures      BIGINT NOT NULL,
    PRIMARY KEY (client_ip, window_start)
);
