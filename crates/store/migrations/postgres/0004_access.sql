-- Least privilege (PostgreSQL): grants, access requests and their approvals, API tokens, network
-- allowlists, dormancy. Keep in step with migrations/sqlite/0004_access.sql. Times are unix
-- seconds (UTC), like the identity tables, so the clock tests set is the only clock.

-- Why an account is suspended: a person did it, or it was dormant. NULL while active.
ALTER TABLE users ADD COLUMN suspended_at BIGINT;
ALTER TABLE users ADD COLUMN suspended_reason TEXT CHECK (suspended_reason IN ('dormant', 'manual'));

-- An invitation may propose a grant; it only becomes a request (and, once approved, a grant)
-- when the invitation is accepted.
ALTER TABLE links ADD COLUMN registry_id TEXT REFERENCES registries(id);
ALTER TABLE links ADD COLUMN role TEXT;
ALTER TABLE links ADD COLUMN organisation TEXT REFERENCES organisations(ods_code);

-- A request for access: by the person (origin 'request') or from an accepted invitation
-- ('invitation'). organisation NULL means every organisation of the registry.
CREATE TABLE access_requests (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id),
    registry_id     TEXT COLLATE "C" NOT NULL REFERENCES registries(id),
    role            TEXT NOT NULL CHECK (role IN ('controller', 'submitter', 'viewer', 'analyst', 'safety_officer', 'auditor')),
    organisation    TEXT COLLATE "C" REFERENCES organisations(ods_code),
    justification   TEXT NOT NULL,
    origin          TEXT NOT NULL CHECK (origin IN ('request', 'invitation')),
    proposed_by     TEXT REFERENCES users(id),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'refused', 'withdrawn')),
    created_at      BIGINT NOT NULL,
    decided_at      BIGINT,
    decision_reason TEXT
);
CREATE INDEX access_requests_pending ON access_requests (registry_id) WHERE status = 'pending';
CREATE INDEX access_requests_user ON access_requests (user_id);

-- Each approver's decision on a request. The key makes one approver count once.
CREATE TABLE request_approvals (
    request_id  TEXT NOT NULL REFERENCES access_requests(id),
    approver_id TEXT NOT NULL REFERENCES users(id),
    decision    TEXT NOT NULL CHECK (decision IN ('approve', 'refuse')),
    reason      TEXT NOT NULL,
    decided_at  BIGINT NOT NULL,
    PRIMARY KEY (request_id, approver_id)
);

-- A grant: (user, registry, role, organisation or all, expiry). Never deleted: revocation and
-- lapse are recorded, so "who could see this, when" stays answerable.
CREATE TABLE grants (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id),
    registry_id         TEXT COLLATE "C" NOT NULL REFERENCES registries(id),
    role                TEXT NOT NULL CHECK (role IN ('controller', 'submitter', 'viewer', 'analyst', 'safety_officer', 'auditor')),
    organisation        TEXT COLLATE "C" REFERENCES organisations(ods_code),
    request_id          TEXT REFERENCES access_requests(id),
    granted_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    recertified_at      BIGINT,
    recertified_by      TEXT REFERENCES users(id),
    revoked_at          BIGINT,
    revoked_by          TEXT REFERENCES users(id),
    revoke_reason       TEXT
);
CREATE INDEX grants_user ON grants (user_id) WHERE revoked_at IS NULL;
CREATE INDEX grants_registry ON grants (registry_id, expires_at) WHERE revoked_at IS NULL;

-- API tokens for hospital systems. Only the SHA-256 of the secret is kept. permissions is a
-- comma-separated subset of 'read,write'. The token acts for its owner and never beyond the
-- owner's live grants.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL REFERENCES users(id),
    registry_id   TEXT COLLATE "C" NOT NULL REFERENCES registries(id),
    organisation  TEXT COLLATE "C" NOT NULL REFERENCES organisations(ods_code),
    permissions   TEXT NOT NULL,
    label         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    last_used_at  BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- A registry's network allowlist: when it has rows, its grants only work from these ranges.
CREATE TABLE registry_networks (
    registry_id TEXT COLLATE "C" NOT NULL REFERENCES registries(id),
    cidr        TEXT NOT NULL,
    label       TEXT NOT NULL,
    added_by    TEXT REFERENCES users(id),
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (registry_id, cidr)
);
