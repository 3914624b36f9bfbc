"""CPU per Telegram `sendMessage` in the sending process, one thread, against ../shared/bench's
fake Bot API (`tgload.FakeTelegram`, asyncio, keep-alive) running in a child process, so that
only the client's CPU is counted. Variants are interleaved over rounds; figures are medians.

- `tg_send_http_client_us`: the floor, a plain kept-alive `http.client.HTTPConnection` POST of
  the JSON body, reading the answer and `json.loads` of it.
- `tg_send_pooled_request_us`: `PooledRequest.blocking`, our transport alone (pool, idle check).
- `tg_send_ptb_bot_us`: `Bot.send_message` through `TelegramBot.call` (PTB builds the request,
  parses the answer into a `Message`), no event loop.
- `tg_send_ptb_api_request_us`: `Bot.do_api_request("sendMessage", ...)` with the keyboard as
  a plain dict: PTB builds, sends and checks the call, and returns the raw result.
- `tg_send_adapter_us`: `TelegramAdapter.send` of a rendered reply with a three-button keyboard
  (it sends through `do_api_request`, as above).

Prints `name: value unit` lines. Environment: BENCH_QUICK=1 (fewer calls), BENCH_TG_CALLS.
Run: `make bench` or `.venv/bin/python bench/bench_tg_send.py`.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_e2e import SHARED, TOKEN, free_port  # noqa: E402

from adapters.telegram.adapter import TelegramAdapter, TelegramConfig  # noqa: E402
from adapters.telegram.client import TelegramBot  # noqa: E402
from flows.messages import Button, Reply  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
CALLS = int(os.environ.get("BENCH_TG_CALLS") or (1000 if QUICK else 5000))
ROUNDS = 3 if QUICK else 5
SERVER = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from tgload import FakeTelegram
async def main():
    server = await asyncio.start_server(FakeTelegram().handle, "127.0.0.1", int(sys.argv[2]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def cpu_us(action: Callable[[], object], calls: int) -> float:
    for _ in range(50):  # warm: connections made, caches filled
        action()
    start = time.thread_time()
    for _ in range(calls):
        action()
    return (time.thread_time() - start) / calls * 1e6


def main() -> None:
    if not (SHARED / "tgload.py").exists():
        print(f"tg_send: skipped: {SHARED}/tgload.py not found")
        return
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(SHARED), str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        base = f"http://127.0.0.1:{port}/bot"
        body = json.dumps({"chat_id": 5, "text": "What's your order number?"}).encode()
        headers = {"Content-Type": "application/json"}
        plain = http.client.HTTPConnection("127.0.0.1", port)

        def http_client() -> object:
            plain.request("POST", f"/bot{TOKEN}/sendMessage", body, headers)
            return json.loads(plain.getresponse().read())

        bot = TelegramBot(TOKEN, base)
        url = f"{base}{TOKEN}/sendMessage"

        def pooled() -> object:
            return json.loads(bot.request.blocking("POST", url, body, 3.05, 10.0)[1])

        def ptb() -> object:
            message, failure = bot.call(lambda b: b.send_message(5, "What's your order number?"))
            assert failure is None
            return message

        markup = {"inline_keyboard": [[{"text": t, "callback_data": t.upper()}
                                       for t in ("Track", "Returns", "Person")]]}  # fmt: skip

        def ptb_raw() -> object:
            kwargs = {"chat_id": 5, "text": "Hi Ann! How can I help?", "reply_markup": markup}
            result, failure = bot.call(lambda b: b.do_api_request("sendMessage", kwargs))
            assert failure is None
            return result

        adapter = TelegramAdapter(TelegramConfig(TOKEN, "bench-secret", base))
        buttons = tuple(Button(t, t.upper()) for t in ("Track", "Returns", "Person"))
        (out,) = adapter.render(Reply("Hi Ann! How can I help?", buttons=buttons), "5")

        def adapter_send() -> object:
            return adapter.send(out)

        variants = {
            "http_client": http_client,
            "pooled_request": pooled,
            "ptb_bot": ptb,
            "ptb_api_request": ptb_raw,
            "adapter": adapter_send,
        }
        figures: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(ROUNDS):
            for name, action in variants.items():
                figures[name].append(cpu_us(action, CALLS))
        for name, values in figures.items():
            print(f"tg_send_{name}_us: {statistics.median(values):.0f} us")
        print(f"tg_send_calls: {CALLS} calls x {ROUNDS} interleaved rounds, one thread")
        plain.close()
        bot.close()
        adapter.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
