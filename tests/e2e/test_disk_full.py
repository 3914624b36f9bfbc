"""A full disk under the SQLite store, on a real tmpfs: webhooks answer 503 (never 500, never
200 for a message that was not stored), /readyz says "disk full", the log has a line per
condition rather than one per attempt; once space is freed the gateway recovers by itself,
every message answered 200 is replied to exactly once, and the WAL files stay within what
`sqlite_file.WAL_KEEP_BYTES` and `WAL_RESTART_FRAMES` allow instead of filling the disk again.

The helpers (the tmpfs, the filler, a platform that redelivers what was refused) are shared
with bench/fault_disk_full.py, which runs the same scenario at a larger scale.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from gateway.store.sqlite import file as sqlite_file
from sandbox.delivery import post
from sandbox.simulator import build_webhook
from sandbox.webhooks import Webhook
from tests.e2e.conftest import Stack, start_stack

MNT_DETACH = 2  # umount2: detach now, let go once the last open file is closed
STORE = "gw.db"  # its ingress file is `<store>-ingress` (SQLiteStore.__init__)
WAL_FILES = (f"{STORE}-wal", f"{STORE}-ingress-wal")
WAL_HEADER = 32  # bytes before the first frame of a WAL file
CHUNK = 64 * 1024
# Deadline of every poll: recovery, redelivery, replies. Past the outbox lease (30 s): a reply
# whose "sent" record the full disk lost is pending until its lease ends and it goes again.
WAIT_S = 60.0

# Scaled to a disk a test fills in a moment: the same checkpointing, in the same proportions,
# at sizes that fit 8 MB several times (with the shipped 16 MB one WAL file could outgrow the
# whole disk and the bound would say nothing). bench/fault_disk_full.py runs the shipped ones.
DISK = "8m"
KEEP_BYTES = 1024 * 1024
RESTART_FRAMES = 64
WORKERS = 4
CHATS = 30  # Telegram paces replies per chat (one a second): few messages each
OUTAGE_S = 3.0  # the platform keeps retrying on the full disk this long
NEARLY_FULL = 128 * 1024  # bytes left before a round of messages: it fills the disk itself
BURST_ROUNDS = 5  # messages per chat after recovery, to see the WAL files stay bounded


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def mount_tmpfs(path: Path, size: str) -> None:
    """Mount a tmpfs of `size` ("8m") on `path`; an OSError with the errno if refused."""
    options = f"size={size},mode=0700".encode()
    if _libc().mount(b"tmpfs", os.fsencode(path), b"tmpfs", 0, options) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount -t tmpfs on {path}: {os.strerror(code)}")


def unmount(path: Path) -> None:
    """Unmount `path`, lazily if a file there is still open: never left mounted."""
    libc, target = _libc(), os.fsencode(path)
    if libc.umount2(target, 0) != 0 and libc.umount2(target, MNT_DETACH) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"umount {path}: {os.strerror(code)}")


def fill(disk: Path, leave: int = 0) -> Path:
    """Grow a filler file until the filesystem has at most `leave` bytes free, or with none
    left until a write fails with ENOSPC; returns its path."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while free_bytes(disk) >= leave + (CHUNK if leave else 1):
            os.write(fd, bytes(CHUNK))
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    return filler


def free_bytes(disk: Path) -> int:
    stat = os.statvfs(disk)
    return stat.f_bavail * stat.f_frsize


def wal_sizes(disk: Path) -> dict[str, int]:
    """The size of each WAL file of the store (0 while there is none)."""
    return {name: (disk / name).stat().st_size if (disk / name).exists() else 0
            for name in WAL_FILES}  # fmt: skip


def wal_bound(disk: Path) -> int:
    """The most bytes a WAL file may hold: it is cut back to WAL_KEEP_BYTES when it starts
    over, and the commit that takes it past that size checkpoints it (the checkpointer's own
    restart, past WAL_RESTART_FRAMES, keeps it shorter unless writes outrun it). What comes
    in past WAL_KEEP_BYTES meanwhile is that one commit, allowed WAL_RESTART_FRAMES frames."""
    header = (disk / STORE).read_bytes()[:100]
    page = int.from_bytes(header[16:18], "big") or 65536  # 1 stands for 65536
    frames = sqlite_file.WAL_RESTART_FRAMES
    return sqlite_file.WAL_KEEP_BYTES + WAL_HEADER + frames * (sqlite_file.WAL_FRAME_HEADER + page)


def wait_for(ready: Callable[[], bool], timeout: float = WAIT_S, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def readyz(stack: Stack) -> requests.Response:
    return requests.get(stack.url + "/readyz", timeout=10)


@dataclass
class Platform:
    """Telegram as the simulator plays it, keeping each update it posts: one refused is
    redelivered later byte for byte (the same update_id), as Telegram retries a webhook.
    Safe to use from several threads, one message of a chat at a time."""

    stack: Stack
    accepted: dict[str, list[str]] = field(default_factory=dict)  # chat -> texts taken, in order
    taken: dict[str, Webhook] = field(default_factory=dict)  # chat -> its last update taken
    refused: dict[str, list[tuple[str, Webhook]]] = field(default_factory=dict)  # to redeliver
    statuses: Counter[int | None] = field(default_factory=Counter)  # every answer
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, chat: str, text: str) -> int | None:
        """Post a new message (a chat's earlier refused ones are redelivered first)."""
        state = self.stack.sandbox.state
        with self._lock:
            shopper = state.shoppers.find("telegram", chat)
            assert shopper is not None, chat
            hook = build_webhook(state, shopper, text, None)
            self.refused.setdefault(chat, []).append((text, hook))
        return self.redeliver(chat)

    def redeliver(self, chat: str) -> int | None:
        """Post the chat's refused messages in order until one is refused again; returns the
        last answer (None if there was nothing to post)."""
        status = None
        while self.refused.get(chat):
            text, hook = self.refused[chat][0]
            url = self.stack.sandbox.state.config.delivery_url(hook.public_url)
            assert url is not None
            status = post(url, hook, 10)[0]
            with self._lock:
                self.statuses[status] += 1
                if status != 200:
                    return status
                self.refused[chat].pop(0)
                self.accepted.setdefault(chat, []).append(text)
                self.taken[chat] = hook
        return status

    def retry_or_say(self, chat: str, text: str) -> int | None:
        """Telegram retries the chat's refused update, or else the shopper writes `text`: a
        chat has one update at most waiting, whatever the outage lasts."""
        return self.redeliver(chat) if self.refused.get(chat) else self.say(chat, text)

    def repeat(self, chat: str) -> int | None:
        """Post the chat's last update taken once more, as Telegram does when the gateway's
        answer did not reach it: a duplicate, to be answered 200 and not processed again."""
        hook = self.taken[chat]
        url = self.stack.sandbox.state.config.delivery_url(hook.public_url)
        assert url is not None
        status = post(url, hook, 10)[0]
        with self._lock:
            self.statuses[status] += 1
        return status

    def redeliver_all(self) -> int:
        """One retry of every refused message; returns how many are still refused."""
        for chat in list(self.refused):
            self.redeliver(chat)
        return self.waiting()

    def waiting(self) -> int:
        return sum(len(hooks) for hooks in self.refused.values())


def reply_problems(stack: Stack, platform: Platform) -> tuple[int, int]:
    """(lost, doubled): messages answered 200 that were never processed or processed twice,
    replies never delivered, and replies the shopper got more than once."""
    store, lost, doubled = stack.gw.store, 0, 0
    for chat, texts in platform.accepted.items():
        key = f"telegram:{chat}"
        processed = Counter(h.text for h in store.history(key, limit=10_000) if h.direction == "in")
        wanted = Counter(texts)
        lost += sum((wanted - processed).values())
        doubled += sum((processed - wanted).values())
        items = store.outbox_items(key)
        sends = [e for e in stack.sandbox.sent("telegram", to=chat)
                 if str(e.get("method", "")).startswith("send")]  # fmt: skip
        lost += sum(1 for item in items if item.status != "sent")
        doubled += max(0, len(sends) - len(items))
        lost += max(0, sum(1 for item in items if item.status == "sent") - len(sends))
    return lost, doubled


def all_replied(stack: Stack, platform: Platform) -> bool:
    """Every message taken is processed and every reply of theirs was delivered."""
    store = stack.gw.store
    for chat, texts in platform.accepted.items():
        key = f"telegram:{chat}"
        processed = [h for h in store.history(key, limit=10_000) if h.direction == "in"]
        if len(processed) < len(texts):
            return False
        if any(item.status == "pending" for item in store.outbox_items(key)):
            return False
    return True


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A real small filesystem of the test's own (a tmpfs), unmounted whatever happens."""
    path = tmp_path / "disk"
    path.mkdir()
    try:
        mount_tmpfs(path, DISK)
    except OSError as exc:
        if exc.errno == errno.EPERM and os.environ.get("CI") != "true":
            pytest.skip(f"no tmpfs to fill: {exc} (mounting needs root or CAP_SYS_ADMIN)")
        pytest.fail(f"no tmpfs to fill: {exc}")
    try:
        yield path
    finally:
        unmount(path)


@pytest.fixture
def stack_on_disk(tmp_path: Path, disk: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setattr(sqlite_file, "WAL_KEEP_BYTES", KEEP_BYTES)
    monkeypatch.setattr(sqlite_file, "WAL_RESTART_FRAMES", RESTART_FRAMES)
    # The analytics file would sit beside the store by default; its recorder is not what this
    # test is about, so it lives off the full disk here (the bench keeps it on). A turn whose
    # commit the full disk refused is taken again when its lease ends: 5 s, not 30.
    env = {"ANALYTICS_URL": f"sqlite:///{tmp_path / 'analytics.db'}", "LEASE_S": "5"}
    s, stop = start_stack(tmp_path, f"sqlite:///{disk / STORE}", workers=WORKERS, env=env)
    try:
        yield s
    finally:
        stop()  # before the disk is unmounted (it is torn down after this fixture)


def test_a_full_disk_is_a_503_then_recovers_with_every_reply_once_and_bounded_wals(
    stack_on_disk: Stack, disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stack = stack_on_disk
    platform = Platform(stack)
    chats = [stack.shopper("telegram", f"Disk {i}", variant=None) for i in range(CHATS)]
    assert [platform.say(chat, "hi") for chat in chats] == [200] * CHATS
    assert wait_for(lambda: all_replied(stack, platform))

    with caplog.at_level(logging.WARNING):
        # The disk fills while conversations run: turns and replies in hand hit it.
        filler = fill(disk, leave=NEARLY_FULL)
        for chat in chats:
            platform.say(chat, "before")
        fill(disk)
        # Shoppers write on (what the disk still takes is fine: the ingress file reuses its
        # space) and Telegram retries each refused update, until the outage is over. What
        # fills the disk goes on: whatever the gateway frees meanwhile is taken again.
        round_, started = 0, time.monotonic()
        while time.monotonic() - started < OUTAGE_S or not platform.waiting():
            fill(disk)
            for chat in chats:
                platform.retry_or_say(chat, f"full {round_}")
            assert platform.repeat(chats[round_ % CHATS]) == 200  # taken before: no write
            round_ += 1
            assert time.monotonic() - started < WAIT_S, "the full disk never refused a webhook"
        assert platform.redeliver_all()
        assert set(platform.statuses) <= {200, 503}, platform.statuses  # never a 500
        assert platform.statuses[503] > 0
        ready = readyz(stack)
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        assert "writes failing" in ready.json()["store_writes"], ready.json()
        assert "disk full" in ready.json()["store_writes"], ready.json()

        os.unlink(filler)
        assert wait_for(lambda: platform.redeliver_all() == 0 and readyz(stack).ok, every=0.2)
        lines = [r.getMessage().split(" (")[0] for r in caplog.records
                 if r.name.startswith("gateway")]  # fmt: skip

    # A line when a condition starts (a writer failing, a file that cannot be checkpointed)
    # and one when it ends, and one per turn or reply in hand when the disk filled (the
    # worker's and the sender's); none per attempt, and the attempts were hundreds.
    failed = Counter(line for line in lines if line.startswith("store_write_failed"))
    assert failed and max(failed.values()) == 1, failed
    assert len(lines) <= 2 * len(failed) + 2 * WORKERS < platform.statuses[503] / 10, lines

    assert wait_for(lambda: all_replied(stack, platform))
    assert reply_problems(stack, platform) == (0, 0)

    # More traffic after recovery: the WAL files stay bounded and the disk does not fill.
    bound, largest, least_free = wal_bound(disk), Counter[str](), free_bytes(disk)
    for round_ in range(BURST_ROUNDS):
        for chat in chats:
            assert platform.say(chat, f"after {round_}") == 200
            largest |= Counter(wal_sizes(disk))
            least_free = min(least_free, free_bytes(disk))
    assert wait_for(lambda: all_replied(stack, platform))
    largest |= Counter(wal_sizes(disk))
    assert max(largest.values()) <= bound, (largest, bound)
    assert least_free > 0
    assert reply_problems(stack, platform) == (0, 0)
    assert readyz(stack).ok
