"""The analytics tables: one row per conversation session and small typed tables beside it,
indexed for the report's GROUP BYs, so a report over a million conversations is a few scans.

A *session* runs from a conversation's first message (or its first after it expired) to its
end; the experiment's numbers count sessions, its "shoppers" count conversations.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS a_seen (
    conversation TEXT NOT NULL, message_id TEXT NOT NULL,
    seen_at REAL NOT NULL DEFAULT 0,       -- when it was recorded: kept SEEN_KEEP_S after
    PRIMARY KEY (conversation, message_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS a_session (
    id INTEGER PRIMARY KEY,
    conversation TEXT NOT NULL,
    channel TEXT NOT NULL,
    started_at REAL NOT NULL,
    last_at REAL NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0,      -- shopper messages
    handoff INTEGER NOT NULL DEFAULT 0,    -- 1: handed to a person in the inbox
    phone INTEGER NOT NULL DEFAULT 0,      -- 1: sent to the call-center number
    ended INTEGER NOT NULL DEFAULT 0,      -- 1: the flow reached an end (or an opt-out)
    waiting INTEGER NOT NULL DEFAULT 0,    -- 1: the bot is waiting for the shopper's answer
    goal INTEGER NOT NULL DEFAULT 0,       -- 1: some goal was reached
    last_node TEXT,                        -- where the shopper was last (drop-off)
    csat INTEGER,
    nps INTEGER,
    agent_s REAL NOT NULL DEFAULT 0        -- agent handling time (claim to resolve), seconds
);
CREATE INDEX IF NOT EXISTS a_session_conv ON a_session(conversation, started_at);
CREATE INDEX IF NOT EXISTS a_session_started ON a_session(started_at);
CREATE TABLE IF NOT EXISTS a_variant (
    session INTEGER NOT NULL, experiment TEXT NOT NULL, variant TEXT NOT NULL,
    PRIMARY KEY (session, experiment)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS a_variant_by_experiment ON a_variant(experiment, variant, session);
CREATE TABLE IF NOT EXISTS a_goal (
    session INTEGER NOT NULL, goal TEXT NOT NULL, PRIMARY KEY (session, goal)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS a_goal_by_goal ON a_goal(goal, session);
CREATE TABLE IF NOT EXISTS a_node (
    session INTEGER NOT NULL, node TEXT NOT NULL, PRIMARY KEY (session, node)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS a_fallback (
    id INTEGER PRIMARY KEY, session INTEGER NOT NULL, at REAL NOT NULL,
    node TEXT NOT NULL, channel TEXT NOT NULL, phrase TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS a_fallback_at ON a_fallback(at);
CREATE TABLE IF NOT EXISTS a_thread (
    id TEXT PRIMARY KEY,
    session INTEGER,
    conversation TEXT NOT NULL,
    channel TEXT NOT NULL,
    queue TEXT NOT NULL,
    agent TEXT,
    created_at REAL NOT NULL,
    claimed_at REAL,
    first_response_at REAL,
    resolved_at REAL,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS a_thread_created ON a_thread(created_at);
CREATE INDEX IF NOT EXISTS a_thread_conv ON a_thread(conversation, created_at);
-- a phone call (gateway/analytics/calls.py): the call-center arm's contacts
CREATE TABLE IF NOT EXISTS a_call (
    call_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,             -- epoch seconds
    from_number TEXT NOT NULL,            -- E.164: the caller, joined to whatsapp:<number>
    to_number TEXT NOT NULL,              -- E.164: the number called (an arm's tracked number)
    duration_s REAL NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'missed', 'abandoned', 'voicemail')),
    cost REAL,                            -- NULL: the source did not say
    source TEXT NOT NULL CHECK (source IN ('twilio', 'csv')),
    stage INTEGER NOT NULL DEFAULT 3      -- 0 queued, 1 ringing, 2 in progress, 3 final
);
CREATE INDEX IF NOT EXISTS a_call_started ON a_call(started_at);
"""
