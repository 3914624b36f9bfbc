"""The SQLite store's schema and hot statements (see queue.py for how the queue works).

Each hot statement is shaped to use one index and no scan: `EXPLAIN QUERY PLAN` on any of
them shows a SEARCH. Partial indexes are used only when a query repeats their WHERE exactly.
"""

from gateway.store.base import STRANDED

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order
    conversation TEXT NOT NULL,
    message TEXT NOT NULL,                 -- Inbound as JSON
    status TEXT NOT NULL,                  -- queued, leased, dead (done rows are deleted)
    available_at REAL NOT NULL,
    due REAL,                              -- set on the conversation's head only
    lease_until REAL,
    token TEXT,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS queue_due ON queue(due, id) WHERE due IS NOT NULL;
CREATE INDEX IF NOT EXISTS queue_active ON queue(conversation, id)
    WHERE status IN ('queued', 'leased');
CREATE INDEX IF NOT EXISTS queue_dead ON queue(available_at, id) WHERE status = 'dead';

CREATE TABLE IF NOT EXISTS pumped (       -- how far the queue has moved through the ingress
    one INTEGER PRIMARY KEY CHECK (one = 1),
    epoch TEXT NOT NULL,                   -- the ingress file's own id (meta.epoch)
    upto INTEGER NOT NULL                  -- its last row moved into the queue
);

CREATE TABLE IF NOT EXISTS conversations (
    key TEXT PRIMARY KEY,
    state TEXT,
    last_inbound_at REAL NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL DEFAULT 0,
    hseq INTEGER NOT NULL DEFAULT 0,       -- last history seq handed out
    oseq INTEGER NOT NULL DEFAULT 0        -- last outbox seq handed out
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS history (
    conversation TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    direction TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    data TEXT,
    PRIMARY KEY (conversation, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    conversation TEXT NOT NULL,
    seq INTEGER NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,                  -- pending, sent, dead
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    due REAL,                              -- set on the conversation's earliest pending item
    lease_until REAL,
    last_error TEXT,
    platform_id TEXT,
    delivery TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_conv ON outbox(conversation, status, seq);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(due) WHERE due IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_platform ON outbox(platform_id) WHERE platform_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_dead ON outbox(created_at) WHERE status = 'dead';

CREATE TABLE IF NOT EXISTS events (
    conversation TEXT NOT NULL,
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    at REAL NOT NULL,
    type TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (conversation, message_id, idx)
) WITHOUT ROWID;
"""

# The ingress file: only webhooks (and inbox actions) write it; workers read it.
INGRESS_SCHEMA = """
CREATE TABLE IF NOT EXISTS ingress (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order, never reused: a mark is enough
    conversation TEXT NOT NULL,
    message TEXT NOT NULL,                 -- Inbound as JSON
    at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS dedupe (
    channel TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (channel, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedupe_expiry ON dedupe(expires_at);

CREATE TABLE IF NOT EXISTS meta (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    epoch TEXT NOT NULL                    -- a new file (deleted, replaced) starts its ids over
);
INSERT OR IGNORE INTO meta(one, epoch) VALUES (1, lower(hex(randomblob(16))))
"""

ACTIVE = "status IN ('queued', 'leased')"  # must match queue_active's WHERE to use it
OUTBOX_COLUMNS = (
    "id, conversation, channel, payload, created_at, status, attempts, next_at, last_error, "
    "platform_id, delivery, seq"
)

SQL_DEDUPE = """
INSERT INTO dedupe(channel, message_id, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT(channel, message_id) DO UPDATE SET expires_at = excluded.expires_at
WHERE dedupe.expires_at <= ?4
RETURNING 1
"""
SQL_INGRESS = "INSERT INTO ingress(conversation, message, at) VALUES (?, ?, ?)"
SQL_ARRIVED = "SELECT id, conversation, message, at FROM ingress WHERE id > ? ORDER BY id LIMIT ?"
SQL_ARRIVED_COUNT = "SELECT count(*) FROM ingress WHERE id > ?"
SQL_PUMPED = """
INSERT INTO pumped(one, epoch, upto) VALUES (1, ?1, ?2)
ON CONFLICT(one) DO UPDATE SET epoch = excluded.epoch, upto = excluded.upto
"""
SQL_ENQUEUE = f"""
INSERT INTO queue(conversation, message, status, available_at, due)
VALUES (?1, ?2, 'queued', ?3, CASE WHEN EXISTS (
    SELECT 1 FROM queue WHERE conversation = ?1 AND {ACTIVE}) THEN NULL ELSE ?3 END)
"""
SQL_CLAIM = """
UPDATE queue SET status = 'leased', token = ?2, lease_until = ?3, due = ?3, worker = ?4,
    attempts = attempts + 1
WHERE id = (SELECT id FROM queue WHERE due <= ?1 ORDER BY due, id LIMIT 1)
RETURNING id, conversation, message, attempts
"""
# A lane's claim ahead: another conversation's head (the committed one's next message is
# claimable by any worker, in order, as on Redis).
SQL_CLAIM_OTHER = """
UPDATE queue SET status = 'leased', token = ?2, lease_until = ?3, due = ?3, worker = ?4,
    attempts = attempts + 1
WHERE id = (SELECT id FROM queue WHERE due <= ?1 AND conversation <> ?5 ORDER BY due, id LIMIT 1)
RETURNING id, conversation, message, attempts
"""
SQL_ANY_DUE = "SELECT 1 FROM queue WHERE due <= ? LIMIT 1"  # a read: is a claim worth a write?
SQL_NEXT_HEAD = f"""
UPDATE queue SET due = available_at
WHERE id = (SELECT id FROM queue WHERE conversation = ?1 AND {ACTIVE} ORDER BY id LIMIT 1)
  AND due IS NULL
"""
SQL_SAVE_CONVERSATION = """
INSERT INTO conversations(key, state, last_inbound_at, updated_at, hseq, oseq)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT(key) DO UPDATE SET state = excluded.state,
    last_inbound_at = max(last_inbound_at, excluded.last_inbound_at),
    updated_at = excluded.updated_at, hseq = hseq + excluded.hseq, oseq = oseq + excluded.oseq
RETURNING hseq, oseq
"""
SQL_BUMP_SEQ = """
INSERT INTO conversations(key, hseq, oseq) VALUES (?1, ?2, ?3)
ON CONFLICT(key) DO UPDATE SET hseq = hseq + excluded.hseq, oseq = oseq + excluded.oseq
RETURNING hseq, oseq
"""
SQL_HISTORY = """
INSERT INTO history(conversation, seq, at, direction, author, text, data)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
SQL_OUTBOX = """
INSERT INTO outbox(id, conversation, seq, channel, payload, status, next_at, created_at)
VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT(id) DO NOTHING
"""
SQL_OUTBOX_HEAD = """
UPDATE outbox SET due = max(next_at, coalesce(lease_until, 0))
WHERE id = (SELECT id FROM outbox WHERE conversation = ?1 AND status = 'pending'
            ORDER BY seq LIMIT 1)
  AND due IS NULL
"""
SQL_OUTBOX_SENT = (
    "UPDATE outbox SET status = 'sent', platform_id = ?, due = NULL, lease_until = NULL "
    "WHERE id = ? AND status = 'pending' RETURNING conversation"
)
SQL_ANY_OUTBOX_DUE = "SELECT 1 FROM outbox WHERE due <= ? LIMIT 1"
# A pending item still leased when it is claimed is marked STRANDED (see base.py); the
# right-hand sides read the row as it was before this UPDATE.
_LEASE = f"""lease_until = ?1, due = ?1, attempts = attempts + (lease_until IS NOT NULL),
    last_error = CASE WHEN lease_until IS NOT NULL THEN '{STRANDED}' ELSE last_error END"""
SQL_CLAIM_OUTBOX = f"""
UPDATE outbox SET {_LEASE} WHERE id IN (
    SELECT id FROM outbox WHERE due <= ?2 ORDER BY due LIMIT ?3)
RETURNING {OUTBOX_COLUMNS}
"""
SQL_CLAIM_HEAD = f"""
UPDATE outbox SET {_LEASE}
WHERE id = (SELECT id FROM outbox WHERE conversation = ?2 AND status = 'pending'
            ORDER BY seq LIMIT 1)
  AND due <= ?3
RETURNING {OUTBOX_COLUMNS}
"""
SQL_EVENT = """
INSERT OR IGNORE INTO events(conversation, message_id, idx, at, type, data)
VALUES (?, ?, ?, ?, ?, ?)
"""
