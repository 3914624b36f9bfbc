"""The inbox on Redis, for gateways on several hosts; same contract as the SQLite inbox.

Every key carries the one hash tag `{inbox}`, so all of them sit in one Redis Cluster slot
and each Lua script can check and write them atomically. One slot (one node) for the whole
inbox is fine: inbox traffic is human-scale, clicks rather than webhooks. With B =
`<prefix>{inbox}:`:

    B threads           hash id -> "<state JSON>\\n<the thread as opened, thread_to_json>"
    B agents            hash login -> "<on duty 0|1>\\n<agent_to_json>"
    B open              hash conversation -> its open (waiting or assigned) thread's id
    B waiting           zset of waiting ids by created_at, every queue
    B waiting:<queue>   the same, one queue
    B assigned:<login>  zset of the agent's assigned ids by created_at (its size is the load)
    B claims:<queue>    zset of claimed ids by claimed_at, the newest 100 (recent_waits)
    B conv:<conv>       zset of the conversation's thread ids by created_at
    B session:<token>   "<expires_at>\\n<login>", with a PX expiry
    B sessions:<login>  set of the agent's tokens, so removing the agent ends them all
    B version           INCR'd by every write (login attempts aside: they change no thread)
    B login:<key>       zset of failed-login attempt ids by time, per account or address, with
                        a PX expiry (the window and an hour)

Each check-and-write (open_thread's one-open-thread rule, claim, transfer, resolve, ...) is one
Lua script: no WATCH, no retries. Scripts reach per-queue, per-agent and per-conversation keys
by name built inside the script; they share the declared keys' slot, which Redis and Redis
Cluster allow, though proxies that insist on declared keys (Dragonfly's default) do not.

Why a state line beside the thread JSON: Lua's cjson writes numbers with 14 significant digits
(an epoch time 1717171717.123456 comes back as 1717171717.1235), big integers as 1.2e+16, and
empty arrays as {}. So scripts never re-encode what the caller gave: they change only the
state line, whose values are strings (times as the JSON text Python wrote) or null, and the
thread JSON (variants, vars, ...) stays byte for byte what Python wrote; the state overrides
its fields when read.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any, cast

import redis

from gateway.inbox.codec import agent_from_json, agent_to_json, thread_from_json, thread_to_json
from gateway.inbox.model import Agent, CapacityFull, NotWaiting, Thread, UnknownAgent

RECENT_WAITS = 100  # claims kept per queue for recent_waits
SESSION_GRACE_S = 3600.0  # a session key outlives its expiry (by wall clock) this long
_TIMES = (
    "created_at",
    "claimed_at",
    "first_response_at",
    "resolved_at",
    "last_message_at",
    "updated_at",
)
_STATE = ("conversation", "queue", "status", "agent", "outcome", *_TIMES)

# Shared by the writing scripts: KEYS = threads, agents, open, waiting, version; ARGV[1] = B.
_PRELUDE = f"""
local T, AG, OPEN, WAIT, VER = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local B = ARGV[1]
local function none(x) return x == nil or x == cjson.null end
local function is_open(s) return s.status == "waiting" or s.status == "assigned" end
local function after_line(raw) return string.sub(raw, string.find(raw, "\\n", 1, true) + 1) end
local function copy(s) local c = {{}} for k, v in pairs(s) do c[k] = v end return c end
-- A thread's state (a table of strings and nulls) and its thread JSON, or nil.
local function load(id)
  local raw = redis.call("HGET", T, id)
  if not raw then return nil end
  local cut = string.find(raw, "\\n", 1, true)
  return cjson.decode(string.sub(raw, 1, cut - 1)), string.sub(raw, cut + 1)
end
local function unindex(id, s)
  if s.status == "waiting" then
    redis.call("ZREM", WAIT, id)
    redis.call("ZREM", B .. "waiting:" .. s.queue, id)
  elseif s.status == "assigned" and not none(s.agent) then
    redis.call("ZREM", B .. "assigned:" .. s.agent, id)
  end
  if not none(s.claimed_at) then redis.call("ZREM", B .. "claims:" .. s.queue, id) end
  if redis.call("HGET", OPEN, s.conversation) == id then
    redis.call("HDEL", OPEN, s.conversation)
  end
end
local function index(id, s)
  if s.status == "waiting" then
    redis.call("ZADD", WAIT, s.created_at, id)
    redis.call("ZADD", B .. "waiting:" .. s.queue, s.created_at, id)
  elseif s.status == "assigned" and not none(s.agent) then
    redis.call("ZADD", B .. "assigned:" .. s.agent, s.created_at, id)
  end
  if not none(s.claimed_at) then
    local claims = B .. "claims:" .. s.queue
    redis.call("ZADD", claims, s.claimed_at, id)
    redis.call("ZREMRANGEBYRANK", claims, 0, -{RECENT_WAITS + 1})
  end
  if is_open(s) then redis.call("HSET", OPEN, s.conversation, id) end
  redis.call("ZADD", B .. "conv:" .. s.conversation, s.created_at, id)
end
-- Write the new state `s` of thread `id` (was `old`, nil if new) and move it in every index.
local function save(id, old, s, fixed)
  if old then unindex(id, old) end
  index(id, s)
  local raw = cjson.encode(s) .. "\\n" .. fixed
  redis.call("HSET", T, id, raw)
  redis.call("INCR", VER)
  return raw
end
-- Give a thread (its new state `s`, still to be assigned) to an agent with room.
local function give(id, old, fixed, s, login, now)
  local a = redis.call("HGET", AG, login)
  if not a then return {{"unknown_agent"}} end
  local load = redis.call("ZCARD", B .. "assigned:" .. login)
  if load >= cjson.decode(after_line(a)).capacity then return {{"capacity_full", a, load}} end
  s.status, s.agent, s.updated_at = "assigned", login, now
  if none(s.claimed_at) then s.claimed_at = now end
  return {{"ok", save(id, old, s, fixed)}}
end
"""

_SCRIPTS = {
    # ARGV: B, id, state, thread JSON
    "open_thread": """
local raw = redis.call("HGET", T, ARGV[2])
if not raw then
  local s = cjson.decode(ARGV[3])
  local other = redis.call("HGET", OPEN, s.conversation)
  if other then raw = redis.call("HGET", T, other) end
  if not raw then return save(ARGV[2], nil, s, ARGV[4]) end
end
redis.call("INCR", VER)
return raw
""",
    # ARGV: B, id, login, now
    "claim": """
local s, fixed = load(ARGV[2])
if not s or s.status ~= "waiting" then
  return {"not_waiting", (s and not none(s.agent)) and s.agent or ""}
end
return give(ARGV[2], s, fixed, copy(s), ARGV[3], ARGV[4])
""",
    # ARGV: B, id, to_agent or "", to_queue or "", now
    "transfer": """
local id, to_agent, to_queue, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local s, fixed = load(id)
if not s or not is_open(s) then return {"resolved"} end
local n = copy(s)
if to_agent == "" or to_queue ~= "" then
  n.status, n.agent, n.updated_at = "waiting", cjson.null, now
  if to_queue ~= "" then n.queue = to_queue end
end
if to_agent ~= "" then return give(id, s, fixed, n, to_agent, now) end
return {"ok", save(id, s, n, fixed)}
""",
    # ARGV: B, id, now
    "responded": """
local s, fixed = load(ARGV[2])
if s and none(s.first_response_at) then
  local n = copy(s)
  n.first_response_at, n.updated_at = ARGV[3], ARGV[3]
  save(ARGV[2], s, n, fixed)
else
  redis.call("INCR", VER)
end
return 1
""",
    # ARGV: B, id, outcome, now
    "resolve": """
local s, fixed = load(ARGV[2])
if not s or not is_open(s) then return {"resolved"} end
local n = copy(s)
n.status, n.outcome, n.resolved_at, n.updated_at = "resolved", ARGV[3], ARGV[4], ARGV[4]
return {"ok", save(ARGV[2], s, n, fixed)}
""",
    # ARGV: B, conversation, at
    "touch": """
local id = redis.call("HGET", OPEN, ARGV[2])
local s, fixed
if id then s, fixed = load(id) end
if not s then redis.call("INCR", VER) return false end
local n = copy(s)
if tonumber(s.last_message_at) <= tonumber(ARGV[3]) then n.last_message_at = ARGV[3] end
n.updated_at = ARGV[3]
return save(id, s, n, fixed)
""",
    # ARGV: B, login, on duty (0|1) if new, agent JSON
    "put_agent": """
local old = redis.call("HGET", AG, ARGV[2])
local flag = old and string.sub(old, 1, 1) or ARGV[3]
redis.call("HSET", AG, ARGV[2], flag .. "\\n" .. ARGV[4])
redis.call("INCR", VER)
return 1
""",
    # ARGV: B, login, on duty (0|1)
    "set_on_duty": """
local old = redis.call("HGET", AG, ARGV[2])
if old then redis.call("HSET", AG, ARGV[2], ARGV[3] .. string.sub(old, 2)) end
redis.call("INCR", VER)
return 1
""",
    # ARGV: B, login
    "remove_agent": """
local gone = redis.call("HDEL", AG, ARGV[2])
local set = B .. "sessions:" .. ARGV[2]
for _, token in ipairs(redis.call("SMEMBERS", set)) do
  redis.call("DEL", B .. "session:" .. token)
end
redis.call("DEL", set)
redis.call("INCR", VER)
return gone
""",
    # ARGV: B, token, login, expires_at, ttl in ms. Prunes the login's expired tokens.
    "create_session": """
local key = B .. "session:" .. ARGV[2]
local old = redis.call("GET", key)
if old then redis.call("SREM", B .. "sessions:" .. after_line(old), ARGV[2]) end
redis.call("SET", key, ARGV[4] .. "\\n" .. ARGV[3], "PX", ARGV[5])
local set = B .. "sessions:" .. ARGV[3]
for _, token in ipairs(redis.call("SMEMBERS", set)) do
  if redis.call("EXISTS", B .. "session:" .. token) == 0 then redis.call("SREM", set, token) end
end
redis.call("SADD", set, ARGV[2])
if redis.call("PTTL", set) < tonumber(ARGV[5]) then redis.call("PEXPIRE", set, ARGV[5]) end
redis.call("INCR", VER)
return 1
""",
    # ARGV: B, token
    "end_session": """
local key = B .. "session:" .. ARGV[2]
local old = redis.call("GET", key)
if old then
  redis.call("SREM", B .. "sessions:" .. after_line(old), ARGV[2])
  redis.call("DEL", key)
end
redis.call("INCR", VER)
return 1
""",
}

# KEYS: one login key; ARGV: cutoff (attempts at or before it no longer count), attempt id,
# now, limit, ttl in ms. The oldest counted attempt's time when refused, else nil (recorded).
_LOGIN_ATTEMPT = """
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[4]) then
  return redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")[2]
end
redis.call("ZADD", KEYS[1], ARGV[3], ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[5])
return false
"""
# KEYS: one login key; how many attempts it held, then gone.
_CLEAR_LOGIN = """
local n = redis.call("ZCARD", KEYS[1])
redis.call("DEL", KEYS[1])
return n
"""

# Reads, one consistent snapshot each. KEYS: threads, a zset; ARGV: start, stop, reversed.
_RANGE = """
local ids
if ARGV[3] == "1" then ids = redis.call("ZREVRANGE", KEYS[2], ARGV[1], ARGV[2])
else ids = redis.call("ZRANGE", KEYS[2], ARGV[1], ARGV[2]) end
local out = {}
for i, id in ipairs(ids) do out[i] = redis.call("HGET", KEYS[1], id) end
return out
"""
# KEYS: threads, open; ARGV: conversation
_OPEN_OF = """
local id = redis.call("HGET", KEYS[2], ARGV[1])
if not id then return false end
return redis.call("HGET", KEYS[1], id)
"""


def _time(value: float | None) -> str | None:
    """A time as the JSON text Python writes (shortest exact repr), so Lua keeps it exact."""
    return None if value is None else json.dumps(value)


def _state(thread: Thread) -> str:
    data = {f: getattr(thread, f) for f in _STATE}
    data.update((f, _time(getattr(thread, f))) for f in _TIMES)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _thread(raw: str) -> Thread:
    state, fixed = raw.split("\n", 1)
    changes = {
        k: json.loads(v) if k in _TIMES and v is not None else v
        for k, v in json.loads(state).items()
    }
    return replace(thread_from_json(fixed), **changes)


def _agent(raw: str) -> Agent:
    flag, text = raw.split("\n", 1)
    return agent_from_json(text, flag == "1")


class RedisInbox:
    """`InboxStore` on Redis (see the module docstring for the keys and why they look so)."""

    def __init__(self, url: str, prefix: str = "") -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"Redis key prefix {prefix!r} must be free of braces (hash tags)")
        # decode_responses: every reply is str. redis-py's hints say `bytes | str` (they cannot
        # see the option), so the reads below `cast` the replies to their str forms.
        self._r = redis.Redis.from_url(url, decode_responses=True)
        self._b = f"{prefix}{{inbox}}:"
        self._threads, self._agents, self._open, self._waiting, self._version = (
            self._b + name for name in ("threads", "agents", "open", "waiting", "version")
        )
        self._keys = [self._threads, self._agents, self._open, self._waiting, self._version]
        self._scripts = {
            name: self._r.register_script(_PRELUDE + body) for name, body in _SCRIPTS.items()
        }
        self._range_script = self._r.register_script(_RANGE)
        self._open_of_script = self._r.register_script(_OPEN_OF)
        self._login_attempt_script = self._r.register_script(_LOGIN_ATTEMPT)
        self._clear_login_script = self._r.register_script(_CLEAR_LOGIN)

    def _write(self, name: str, *args: Any) -> Any:
        return self._scripts[name](keys=self._keys, args=[self._b, *args])

    def _range(self, key: str, offset: int = 0, limit: int = -1, rev: bool = False) -> list[Thread]:
        """Threads of a zset; a negative limit means all of them, as in SQL."""
        if limit == 0:
            return []
        start = max(offset, 0)
        stop = -1 if limit < 0 else start + limit - 1
        rows = self._range_script(keys=[self._threads, key], args=[start, stop, int(rev)])
        return [_thread(r) for r in rows if r is not None]

    def _waiting_key(self, queue: str | None) -> str:
        return f"{self._waiting}:{queue}" if queue else self._waiting

    # ---- agents ----
    def put_agent(self, agent: Agent) -> None:
        self._write("put_agent", agent.login, int(agent.on_duty), agent_to_json(agent))

    def remove_agent(self, login: str) -> bool:
        return bool(self._write("remove_agent", login))

    def agent(self, login: str) -> Agent | None:
        raw = cast("str | None", self._r.hget(self._agents, login))
        return _agent(raw) if raw is not None else None

    def agents(self) -> list[Agent]:
        rows = cast("dict[str, str]", self._r.hgetall(self._agents))
        return [_agent(rows[login]) for login in sorted(rows)]

    def set_on_duty(self, login: str, on_duty: bool) -> None:
        self._write("set_on_duty", login, int(on_duty))

    # ---- sessions ----
    def create_session(self, token: str, login: str, expires_at: float) -> None:
        """The caller's clock decides expiry, as in SQLite; the key's own expiry (an hour
        later by this host's clock) only collects it."""
        ttl_ms = int((max(expires_at - time.time(), 0.0) + SESSION_GRACE_S) * 1000)
        self._write("create_session", token, login, json.dumps(expires_at), ttl_ms)

    def session_agent(self, token: str, now: float) -> str | None:
        raw = cast("str | None", self._r.get(self._b + "session:" + token))
        if raw is None:
            return None
        expires_at, login = raw.split("\n", 1)
        return login if json.loads(expires_at) > now else None

    def end_session(self, token: str) -> None:
        self._write("end_session", token)

    # ---- login throttling ----
    def login_attempt(self, key: str, attempt: str, now: float, window_s: float, limit: int
                      ) -> float:  # fmt: skip
        """Times are the caller's, as for sessions; the key's own expiry only collects it."""
        ttl_ms = int((window_s + SESSION_GRACE_S) * 1000)
        oldest = self._login_attempt_script(
            keys=[f"{self._b}login:{key}"],
            args=[repr(now - window_s), attempt, repr(now), limit, ttl_ms],
        )
        return 0.0 if oldest is None else max(float(oldest) + window_s - now, 0.001)

    def login_failures(self, key: str, now: float, window_s: float) -> int:
        return int(self._r.zcount(f"{self._b}login:{key}", f"({now - window_s!r}", "+inf"))

    def clear_login_failures(self, key: str, attempt: str | None = None) -> int:
        if attempt is not None:
            return int(self._r.zrem(f"{self._b}login:{key}", attempt))
        return int(self._clear_login_script(keys=[f"{self._b}login:{key}"]))

    # ---- threads ----
    def open_thread(self, thread: Thread) -> Thread:
        raw = self._write("open_thread", thread.id, _state(thread), thread_to_json(thread))
        return _thread(raw)

    def thread(self, thread_id: str) -> Thread | None:
        raw = cast("str | None", self._r.hget(self._threads, thread_id))
        return _thread(raw) if raw is not None else None

    def open_thread_of(self, conversation: str) -> Thread | None:
        raw = self._open_of_script(keys=[self._threads, self._open], args=[conversation])
        return _thread(raw) if raw is not None else None

    def threads_of(self, conversation: str, limit: int = 20) -> list[Thread]:
        return self._range(f"{self._b}conv:{conversation}", limit=limit, rev=True)

    def waiting(self, queue: str | None = None, limit: int = 50, offset: int = 0) -> list[Thread]:
        """Oldest first; equal times by id, as zsets order them (and SQLite's ORDER BY)."""
        return self._range(self._waiting_key(queue), offset, limit)

    def count_waiting(self, queue: str | None = None) -> int:
        return int(self._r.zcard(self._waiting_key(queue)))

    def assigned_to(self, login: str) -> list[Thread]:
        return self._range(f"{self._b}assigned:{login}")

    def _given(self, reply: list[Any], login: str) -> Thread:
        """The answer of a script that gives a thread to an agent, or the refusal raised."""
        if reply[0] == "unknown_agent":
            raise UnknownAgent(f"there is no agent '{login}'")
        if reply[0] == "capacity_full":
            agent, load = _agent(reply[1]), reply[2]
            raise CapacityFull(
                f"{agent.display_name} already has {load} of {agent.capacity} threads; "
                "resolve or transfer one first"
            )
        return _thread(reply[1])

    def claim(self, thread_id: str, login: str, now: float) -> Thread:
        reply = self._write("claim", thread_id, login, _time(now))
        if reply[0] == "not_waiting":
            who = f" by {reply[1]}" if reply[1] else ""
            raise NotWaiting(f"this thread is no longer waiting (taken{who} or resolved)")
        return self._given(reply, login)

    def transfer(
        self, thread_id: str, to_agent: str | None, to_queue: str | None, now: float
    ) -> Thread:
        reply = self._write("transfer", thread_id, to_agent or "", to_queue or "", _time(now))
        if reply[0] == "resolved":
            raise NotWaiting("this thread is resolved; it cannot be transferred")
        return self._given(reply, to_agent or "")

    def responded(self, thread_id: str, now: float) -> None:
        self._write("responded", thread_id, _time(now))

    def resolve(self, thread_id: str, outcome: str, now: float) -> Thread:
        reply = self._write("resolve", thread_id, outcome, _time(now))
        if reply[0] == "resolved":
            raise NotWaiting("this thread is already resolved")
        return _thread(reply[1])

    def touch(self, conversation: str, at: float) -> Thread | None:
        raw = self._write("touch", conversation, _time(at))
        return _thread(raw) if raw is not None else None

    def recent_waits(self, queue: str, limit: int = 20) -> list[float]:
        """From the newest claims; only the latest RECENT_WAITS per queue are kept."""
        return [
            float(t.claimed_at - t.created_at)
            for t in self._range(f"{self._b}claims:{queue}", limit=limit, rev=True)
            if t.claimed_at is not None
        ]

    def version(self) -> int:
        return int(self._r.get(self._version) or 0)

    def close(self) -> None:
        self._r.close()
