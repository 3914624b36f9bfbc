"""The Lua scripts of the Redis store (see keys.py for the key layout they work on).

Each script touches the keys of one conversation only (one hash tag, one Cluster slot), except
INDEX, which touches one global index. Times travel as the strings Python sent: Lua's own
number formatting would round them.
"""

from __future__ import annotations

from gateway.store.base import DELIVERY_FAILED, DELIVERY_ORDER, STRANDED, delivery_rank

# A hash keeps its compact listpack form while every value is at most this long (Redis's
# default hash-max-listpack-value): a state that fits lives in the conversation's hash.
INLINE_MAX = 64
EVENT_TURNS = 100  # the latest turns whose events a conversation keeps (see Store.events)

_RANKS = ",".join(
    f'["{s}"]={delivery_rank(s)}' for s in (*DELIVERY_ORDER, *sorted(DELIVERY_FAILED))
)

# Shared by every script. An outbox item's mutable part is a JSON array:
# [status, attempts, next_at, lease_until, platform_id, delivery, last_error, seq]; times stay
# the strings Python sent, so Lua never reformats a float.
PRELUDE = (
    """
local RANK = {"""
    + _RANKS
    + """}
local function rank(s) if s == nil or s == cjson.null then return -2 end return RANK[s] or -1 end
local function split(raw)
  local cut = string.find(raw, "\\n", 1, true)
  return cjson.decode(string.sub(raw, 1, cut - 1)), string.sub(raw, cut + 1)
end
local function enc(m, imm)
  local out = {}
  for i = 1, 8 do
    local x = m[i]
    if x == nil or x == cjson.null then out[i] = "null"
    elseif type(x) == "number" then out[i] = string.format("%d", x)
    else out[i] = cjson.encode(x) end
  end
  return "[" .. table.concat(out, ",") .. "]\\n" .. imm
end
local function bump(c) return redis.call("HINCRBY", c, "v", 1) end
local function version(c) return redis.call("HGET", c, "v") or "0" end
-- The queue head moved: remember when the new head is available; "" when the queue is empty.
local function next_head(c, q)
  local nxt = redis.call("LINDEX", q, 0)
  if not nxt then redis.call("HDEL", c, "ha") return "" end
  local t = string.match(nxt, "^%[([^,]+),")
  redis.call("HSET", c, "ha", t)
  return t
end
-- When the outbox's earliest pending item is due (its next_at, or lease_until if later).
local function outbox_due(o, op)
  local ids = redis.call("ZRANGE", op, 0, 0)
  if #ids == 0 then return "" end
  local m = split(redis.call("HGET", o, ids[1]))
  if m[4] ~= "" and tonumber(m[4]) > tonumber(m[3]) then return m[4] end
  return m[3]
end
-- Lease the earliest pending item if it is due at `now`: {1, id, raw} or {0, when it is due}.
local function claim_head(o, op, now, lease_until)
  local ids = redis.call("ZRANGE", op, 0, 0)
  if #ids == 0 then return {0, ""} end
  local m, imm = split(redis.call("HGET", o, ids[1]))
  local due = m[3]
  if m[4] ~= "" and tonumber(m[4]) > tonumber(due) then due = m[4] end
  if tonumber(due) > tonumber(now) then return {0, due} end
  if m[4] ~= "" then  -- still leased: its sender ended without an answer (see STRANDED)
    m[2], m[7] = m[2] + 1, '"""
    + STRANDED
    + """'
  end
  m[4] = lease_until
  local raw = enc(m, imm)
  redis.call("HSET", o, ids[1], raw)
  return {1, ids[1], raw}
end
-- Sent items of an idle outbox expire; pending or dead ones keep it.
local function settle(c, o, op, ttl_ms)
  if redis.call("ZCARD", op) == 0 and tonumber(redis.call("HGET", c, "od") or "0") == 0 then
    redis.call("PEXPIRE", o, ttl_ms)
  else
    redis.call("PERSIST", o)
  end
end
"""
)

# KEYS c q d; ARGV message_id now expires_at ttl_ms entry proposed_version
# The caller's index update rides in the same trip, with the version it proposed and the score
# `now`: right when the queue was empty, so the script takes that version (if it is newer than
# the conversation's: a clock behind makes it take the next one). In every other case the answer
# carries a version past the proposed one and the true score, for the caller to set after it.
ENQUEUE = """
local now = tonumber(ARGV[2])
local function past_proposed()
  if tonumber(ARGV[6]) > tonumber(redis.call("HGET", KEYS[1], "v") or "0") then
    redis.call("HSET", KEYS[1], "v", ARGV[6])
  end
  return bump(KEYS[1])
end
local function head_due()
  if redis.call("LLEN", KEYS[2]) == 0 then return "" end
  return redis.call("HGET", KEYS[1], "lu") or redis.call("HGET", KEYS[1], "ha") or ARGV[2]
end
local seen = redis.call("HGET", KEYS[3], ARGV[1])
if seen and tonumber(seen) > now then return {0, past_proposed(), head_due()} end
redis.call("HSET", KEYS[3], ARGV[1], ARGV[3])
redis.call("PEXPIRE", KEYS[3], ARGV[4])
if redis.call("HLEN", KEYS[3]) % 64 == 0 then  -- now and then, forget expired ids
  local all = redis.call("HGETALL", KEYS[3])
  for i = 1, #all, 2 do
    if tonumber(all[i + 1]) <= now then redis.call("HDEL", KEYS[3], all[i]) end
  end
end
if redis.call("RPUSH", KEYS[2], ARGV[5]) == 1 then
  redis.call("HSET", KEYS[1], "ha", ARGV[2])
  if tonumber(ARGV[6]) > tonumber(redis.call("HGET", KEYS[1], "v") or "0") then
    redis.call("HSET", KEYS[1], "v", ARGV[6])
    return {1, ARGV[6], ARGV[2]}
  end
  return {1, bump(KEYS[1]), ARGV[2]}
end
return {1, past_proposed(), head_due()}
"""

# KEYS c q s; ARGV now lease_until token worker
# A claim answers with the conversation too (state, last inbound, updated): the worker loads
# it next, and nobody else may commit to it while the lease holds.
CLAIM = """
local now = tonumber(ARGV[1])
local head = redis.call("LINDEX", KEYS[2], 0)
if not head then return {0, bump(KEYS[1]), ""} end
local f = redis.call("HMGET", KEYS[1], "lu", "ha")
if f[1] and tonumber(f[1]) > now then return {0, version(KEYS[1]), f[1]} end
if f[2] and tonumber(f[2]) > now then return {0, version(KEYS[1]), f[2]} end
local attempts = redis.call("HINCRBY", KEYS[1], "hn", 1)
redis.call("HSET", KEYS[1], "lt", ARGV[3], "lu", ARGV[2], "lw", ARGV[4])
local c = redis.call("HMGET", KEYS[1], "li", "u", "s")
local state = c[3] or redis.call("GET", KEYS[3]) or ""
return {1, bump(KEYS[1]), ARGV[2], head, attempts, state, c[1] or "0", c[2] or "0"}
"""

# KEYS c q h o op e s; ARGV token now state last_inbound message_id events ttl_ms
#   n_history, history..., n_outbox, (id, next_at, immutable)..., claim_now, lease_until
#   (events: the turn's event dicts as one JSON array, "" if none; the last two "" unless
#   the committing lane takes the due head item for its sender: Lane.commit)
COMMIT = f"local INLINE_MAX, EVENT_TURNS = {INLINE_MAX}, {EVENT_TURNS}\n"
COMMIT += """
if redis.call("HGET", KEYS[1], "lt") ~= ARGV[1] then return {0} end
local li = redis.call("HGET", KEYS[1], "li")
if not li or tonumber(ARGV[4]) > tonumber(li) then li = ARGV[4] end
redis.call("HSET", KEYS[1], "u", ARGV[2], "li", li)
if #ARGV[3] <= INLINE_MAX then  -- a small state rides in the hash: one key less
  redis.call("HSET", KEYS[1], "s", ARGV[3])
  redis.call("DEL", KEYS[7])
else
  redis.call("SET", KEYS[7], ARGV[3])
  redis.call("HDEL", KEYS[1], "s")
end
local i = 8
local n = tonumber(ARGV[i])
for k = 1, n do redis.call("RPUSH", KEYS[3], ARGV[i + k]) end
i = i + n + 1
n = tonumber(ARGV[i])
local added = {}
for k = 0, n - 1 do
  local id = ARGV[i + 1 + 3 * k]
  if redis.call("HEXISTS", KEYS[4], id) == 0 then
    local seq = redis.call("HINCRBY", KEYS[1], "oq", 1)
    local m = {"pending", 0, ARGV[i + 2 + 3 * k], "", nil, nil, nil, seq}
    redis.call("HSET", KEYS[4], id, enc(m, ARGV[i + 3 + 3 * k]))
    redis.call("ZADD", KEYS[5], seq, id)
    added[#added + 1] = id
  end
end
-- Events once per message: a marker element "#<message id>" before the turn's events. Only
-- the latest EVENT_TURNS turns are kept, and only while the conversation is active.
if ARGV[6] ~= "" and not redis.call("LPOS", KEYS[6], "#" .. ARGV[5]) then
  redis.call("RPUSH", KEYS[6], "#" .. ARGV[5], ARGV[6])
  redis.call("LTRIM", KEYS[6], -2 * EVENT_TURNS, -1)
  redis.call("PEXPIRE", KEYS[6], ARGV[7])
end
redis.call("LPOP", KEYS[2])
redis.call("HDEL", KEYS[1], "lt", "lu", "lw", "hn", "he")
local qdue = next_head(KEYS[1], KEYS[2])
if n > 0 then settle(KEYS[1], KEYS[4], KEYS[5], ARGV[7]) end
local head = {0}
if ARGV[#ARGV] ~= "" then head = claim_head(KEYS[4], KEYS[5], ARGV[#ARGV - 1], ARGV[#ARGV]) end
local handed = {}
if head[1] == 1 then handed = {head[2], head[3]} end
return {1, bump(KEYS[1]), qdue, outbox_due(KEYS[4], KEYS[5]), added, handed}
"""

# KEYS c; ARGV token retry_at error
RELEASE = """
if redis.call("HGET", KEYS[1], "lt") ~= ARGV[1] then return {0} end
redis.call("HDEL", KEYS[1], "lt", "lu", "lw")
redis.call("HSET", KEYS[1], "ha", ARGV[2], "he", ARGV[3])
return {1, bump(KEYS[1]), ARGV[2]}
"""

# KEYS c; ARGV token now: a read-ahead claim given back unworked, its attempt taken back
UNCLAIM = """
if redis.call("HGET", KEYS[1], "lt") ~= ARGV[1] then return {0} end
redis.call("HDEL", KEYS[1], "lt", "lu", "lw")
redis.call("HINCRBY", KEYS[1], "hn", -1)
return {1, bump(KEYS[1]), redis.call("HGET", KEYS[1], "ha") or ARGV[2]}
"""

# KEYS c q x; ARGV token error now -> {1, version, queue head due, oldest buried entry}
BURY = """
if redis.call("HGET", KEYS[1], "lt") ~= ARGV[1] then return {0} end
local head = redis.call("LPOP", KEYS[2])
local attempts = redis.call("HGET", KEYS[1], "hn") or "0"
redis.call("RPUSH", KEYS[3], "[" .. attempts .. "," .. cjson.encode(ARGV[2]) .. "," .. ARGV[3]
  .. "," .. head .. "]")
redis.call("HDEL", KEYS[1], "lt", "lu", "lw", "hn", "he")
return {1, bump(KEYS[1]), next_head(KEYS[1], KEYS[2]), redis.call("LINDEX", KEYS[3], 0)}
"""

# KEYS c q x; ARGV buried entry (exactly as listed), queue entry ("" to drop it), now
#   -> {1, version, queue head due, oldest buried entry or ""}; {0} if it is gone already
UNBURY = """
if redis.call("LREM", KEYS[3], 1, ARGV[1]) == 0 then return {0} end
local oldest = redis.call("LINDEX", KEYS[3], 0) or ""
if ARGV[2] == "" then return {1, bump(KEYS[1]), "", oldest} end
if redis.call("RPUSH", KEYS[2], ARGV[2]) == 1 then redis.call("HSET", KEYS[1], "ha", ARGV[3]) end
local due = redis.call("HGET", KEYS[1], "lu") or redis.call("HGET", KEYS[1], "ha") or ARGV[3]
return {1, bump(KEYS[1]), due, oldest}
"""

# KEYS c s -> {last inbound, updated, state or ""}: one read, so that a commit cannot move the
# state between the hash and its `:s` key while it reads them
LOAD = """
local c = redis.call("HMGET", KEYS[1], "li", "u", "s")
return {c[1] or "0", c[2] or "0", c[3] or redis.call("GET", KEYS[2]) or ""}
"""

# KEYS h; ARGV before_seq ("" for the latest page) limit -> {first seq, lines...}
HISTORY = """
local hi = redis.call("LLEN", KEYS[1])
if ARGV[1] ~= "" then hi = math.min(hi, tonumber(ARGV[1]) - 1) end
local lo = math.max(1, hi - tonumber(ARGV[2]) + 1)
if hi < lo then return {0} end
local lines = redis.call("LRANGE", KEYS[1], lo - 1, hi - 1)
table.insert(lines, 1, lo)
return lines
"""

# KEYS c o op; ARGV now lease_until
OUTBOX_CLAIM = """
local head = claim_head(KEYS[2], KEYS[3], ARGV[1], ARGV[2])
if head[1] == 0 then
  if head[2] == "" then return {0, bump(KEYS[1]), ""} end
  return {0, version(KEYS[1]), head[2]}
end
return {1, bump(KEYS[1]), ARGV[2], head[2], head[3]}
"""

# KEYS c o op; ARGV id action ttl_ms a b: one step on one pending (or dead) outbox item
OUTBOX_STEP = """
local raw = redis.call("HGET", KEYS[2], ARGV[1])
if not raw then return {0} end
local m, imm = split(raw)
local action = ARGV[2]
if action == "retry_dead" then
  if m[1] ~= "dead" then return {0} end
  local seq = redis.call("HINCRBY", KEYS[1], "oq", 1)
  m[1], m[2], m[3], m[4], m[8] = "pending", 0, ARGV[4], "", seq
  redis.call("ZADD", KEYS[3], seq, ARGV[1])
  redis.call("HINCRBY", KEYS[1], "od", -1)
elseif m[1] ~= "pending" then return {0}
elseif action == "sent" then
  m[1], m[4], m[5] = "sent", "", ARGV[4]
  if ARGV[4] == "" then m[5] = nil end
  imm = string.match(imm, "^[^\\n]*")  -- the payload line goes: the history has the text
  redis.call("ZREM", KEYS[3], ARGV[1])
elseif action == "retry" then
  m[2], m[3], m[4], m[7] = m[2] + 1, ARGV[4], "", ARGV[5]
elseif action == "defer" then
  m[3], m[4] = ARGV[4], ""
elseif action == "dead" then
  m[1], m[2], m[4], m[7] = "dead", m[2] + 1, "", ARGV[5]
  redis.call("ZREM", KEYS[3], ARGV[1])
  redis.call("HINCRBY", KEYS[1], "od", 1)
end
raw = enc(m, imm)
redis.call("HSET", KEYS[2], ARGV[1], raw)
settle(KEYS[1], KEYS[2], KEYS[3], ARGV[3])
return {1, bump(KEYS[1]), outbox_due(KEYS[2], KEYS[3]), raw}
"""

# KEYS o; ARGV id status rank error: 1 if the item is known (updated or not)
DELIVERY = """
local raw = redis.call("HGET", KEYS[1], ARGV[1])
if not raw then return 0 end
local m, imm = split(raw)
if tonumber(ARGV[3]) > rank(m[6]) then
  m[6] = ARGV[2]
  if ARGV[4] ~= "" then m[7] = ARGV[4] end
  redis.call("HSET", KEYS[1], ARGV[1], enc(m, imm))
end
return 1
"""

# KEYS index ver [counter]; ARGV counter_delta, then (conv, version, score)...: each applied
# if its version is newer than the one seen for that conversation (score "" removes).
INDEX = """
local delta = tonumber(ARGV[1])
if delta ~= 0 then redis.call("INCRBY", KEYS[3], delta) end  -- only the queue passes a counter
for i = 2, #ARGV, 3 do
  local conv, ver, score = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local seen = redis.call("HGET", KEYS[2], conv)
  if not seen or tonumber(ver) > tonumber(seen) then
    if score == "" then
      redis.call("ZREM", KEYS[1], conv)
      redis.call("HDEL", KEYS[2], conv)
    else
      redis.call("ZADD", KEYS[1], score, conv)
      redis.call("HSET", KEYS[2], conv, ver)
    end
  end
end
return 1
"""

SCRIPTS = {
    "enqueue": PRELUDE + ENQUEUE,
    "claim": PRELUDE + CLAIM,
    "commit": PRELUDE + COMMIT,
    "release": PRELUDE + RELEASE,
    "unclaim": PRELUDE + UNCLAIM,
    "bury": PRELUDE + BURY,
    "unbury": PRELUDE + UNBURY,
    "load": LOAD,
    "history": HISTORY,
    "outbox_claim": PRELUDE + OUTBOX_CLAIM,
    "outbox_step": PRELUDE + OUTBOX_STEP,
    "delivery": PRELUDE + DELIVERY,
    "index": INDEX,
}
