// Shopper simulator. Untrusted text (shopper, bot, button titles) only ever goes through
// textContent or setAttribute: this file never assigns HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 600;
  const SHOP = {
    whatsapp: { title: "Sandbox Shop", sub: "WhatsApp Business · via Twilio" },
    messenger: { title: "Sandbox Shop", sub: "Facebook Page · Messenger" },
    telegram: { title: "Sandbox Shop Bot", sub: "bot" },
  };
  const LABEL = { whatsapp: "WhatsApp", messenger: "Messenger", telegram: "Telegram" };
  let current = null; // the open shopper: {channel, address, name}
  const shown = new Map(); // seq -> {key, node}
  let timer = null;

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    const response = await fetch(path, options);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function clock(seconds) {
    return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  function deliveryChip(item) {
    const chip = el("span", "chip");
    if (item.status === null && !item.error) {
      chip.textContent = "posting…";
    } else if (item.status === null) {
      chip.textContent = "not delivered";
      chip.classList.add("bad");
      chip.setAttribute("title", "Webhook not delivered: " + item.error);
    } else {
      chip.textContent = "gateway " + item.status;
      chip.classList.toggle("bad", item.status >= 300);
      chip.setAttribute("title", "The gateway answered the webhook with HTTP " + item.status);
    }
    return chip;
  }

  function tap(item, button) {
    const action = { kind: button.kind, title: button.title, payload: button.payload, seq: item.seq };
    send({ action });
  }

  function buttonNode(item, button, className) {
    if (button.kind === "url") {
      const safe = /^https?:\/\//i.test(button.url || "");
      const link = el(safe ? "a" : "span", className + " link", button.title);
      if (safe) {
        link.setAttribute("href", button.url);
        link.setAttribute("target", "_blank");
        link.setAttribute("rel", "noopener noreferrer");
      }
      return link;
    }
    if (button.kind === "call") return el("span", className + " call", "📞 " + button.title);
    const node = el("button", className, button.title);
    node.type = "button";
    node.addEventListener("click", () => tap(item, button));
    return node;
  }

  function renderIncoming(item) {
    if (item.action === "callback") {
      const note = el("div", "msg note");
      note.append(el("span", "", "You tapped “" + item.text + "”"), deliveryChip(item));
      return note;
    }
    const row = el("div", "msg in");
    const bubble = el("div", "bubble");
    bubble.append(el("div", "text", item.text));
    const meta = el("div", "meta");
    meta.append(el("span", "time", clock(item.time)), deliveryChip(item));
    bubble.append(meta);
    row.append(bubble);
    return row;
  }

  function renderOutgoing(item) {
    const row = el("div", "msg out");
    const bubble = el("div", "bubble");
    const agent = item.author && item.author !== "bot";
    const who = agent ? (item.author === "agent" ? "Agent" : "Agent · " + item.author) : "Bot";
    bubble.append(el("div", agent ? "author agent" : "author", who));
    for (const media of item.media) bubble.append(el("div", "media", "📷 " + media));
    if (item.text) bubble.append(el("div", "text", item.text));
    const channel = current.channel;
    const inside = channel === "messenger" ? item.rows.flat() : [];
    if (inside.length) {
      const card = el("div", "card-buttons");
      for (const b of inside) card.append(buttonNode(item, b, "card-button"));
      bubble.append(card);
    }
    bubble.append(el("div", "meta", clock(item.time)));
    row.append(bubble);
    if (channel !== "messenger" && item.rows.length) {
      const keys = el("div", channel === "telegram" ? "inline-keyboard" : "wa-buttons");
      for (const buttons of item.rows) {
        const line = el("div", "key-row");
        for (const b of buttons) line.append(buttonNode(item, b, "key"));
        keys.append(line);
      }
      row.append(keys);
    }
    if (item.quick.length) {
      const pills = el("div", "quick-replies");
      for (const b of item.quick) pills.append(buttonNode(item, b, "pill"));
      row.append(pills);
    }
    return row;
  }

  function renderItem(item) {
    if (item.dir === "in") return renderIncoming(item);
    if (item.dir === "out") return renderOutgoing(item);
    return el("div", item.alert ? "msg note alert" : "msg note", item.text);
  }

  function renderKeyboard(rows) {
    const box = $("keyboard");
    box.replaceChildren();
    box.hidden = !rows || !rows.length;
    for (const row of rows || []) {
      const line = el("div", "key-row");
      for (const title of row) {
        const key = el("button", "key", title);
        key.type = "button";
        key.addEventListener("click", () => send({ action: { kind: "keyboard", title, payload: title } }));
        line.append(key);
      }
      box.append(line);
    }
  }

  function render(view) {
    const log = $("log");
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    const seen = new Set();
    let index = 0;
    $("empty").hidden = view.items.length > 0;
    for (const item of view.items) {
      seen.add(item.seq);
      const key = JSON.stringify(item);
      let entry = shown.get(item.seq);
      if (!entry || entry.key !== key) {
        const node = renderItem(item);
        node.dataset.seq = String(item.seq);
        if (entry) entry.node.replaceWith(node);
        entry = { key, node };
        shown.set(item.seq, entry);
      }
      const slot = log.children[index + 1]; // +1: the empty-state line comes first
      if (slot !== entry.node) log.insertBefore(entry.node, slot || null);
      index += 1;
    }
    for (const [seq, entry] of shown) {
      if (!seen.has(seq)) {
        entry.node.remove();
        shown.delete(seq);
      }
    }
    $("typing").hidden = !view.typing;
    renderKeyboard(view.keyboard);
    const lastIn = [...view.items].reverse().find((i) => i.dir === "in");
    const last = $("last-status");
    last.replaceChildren();
    if (lastIn) last.append(deliveryChip(lastIn));
    if (nearBottom) log.scrollTop = log.scrollHeight;
  }

  async function poll() {
    clearTimeout(timer);
    if (!current) return;
    const opened = current;
    try {
      const query = new URLSearchParams({ channel: opened.channel, address: opened.address });
      const view = await api("/_sim/api/conversation?" + query);
      if (opened === current) render(view);
    } catch (error) {
      showError("Sandbox unreachable: " + error.message);
    }
    timer = setTimeout(poll, POLL_MS);
  }

  async function send(body) {
    if (!current) return;
    showError("");
    try {
      await api("/_sim/api/send", { channel: current.channel, address: current.address, ...body });
    } catch (error) {
      showError(error.message);
    }
    poll();
  }

  function open(shopper) {
    current = shopper;
    shown.clear();
    const log = $("log");
    log.replaceChildren($("empty"));
    $("phone").dataset.channel = shopper.channel;
    $("title").textContent = SHOP[shopper.channel].title;
    $("subtitle").textContent = SHOP[shopper.channel].sub + " · you are " + shopper.name;
    $("text").disabled = false;
    $("send").disabled = false;
    $("text").focus();
    window.location.hash = shopper.channel + "/" + encodeURIComponent(shopper.address);
    for (const item of document.querySelectorAll("#chats li")) {
      item.classList.toggle("active", item.dataset.key === shopper.channel + "/" + shopper.address);
    }
    poll();
  }

  async function loadChats() {
    const shoppers = await api("/_sim/api/shoppers");
    const list = $("chats");
    list.replaceChildren();
    for (const shopper of shoppers) {
      const item = el("li", "chat " + shopper.channel);
      item.dataset.key = shopper.channel + "/" + shopper.address;
      item.classList.toggle("active", !!current && item.dataset.key === current.channel + "/" + current.address);
      item.append(el("span", "dot"), el("span", "name", shopper.name), el("span", "net", LABEL[shopper.channel]));
      item.addEventListener("click", () => open(shopper));
      list.append(item);
    }
    return shoppers;
  }

  async function start(event) {
    event.preventDefault();
    const channel = new FormData($("start")).get("channel");
    try {
      const shopper = await api("/_sim/api/shoppers", { channel, name: $("name").value, locale: $("locale").value });
      await loadChats();
      open(shopper);
    } catch (error) {
      showError(error.message);
    }
  }

  async function boot() {
    $("start").addEventListener("submit", start);
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("text").value;
      if (!text.trim()) return;
      $("text").value = "";
      send({ text });
    });
    const info = await api("/_sim/api/info");
    $("gateway-url").textContent = info.gateway_url || "(no gateway configured)";
    const shoppers = await loadChats();
    const [channel, address] = window.location.hash.slice(1).split("/");
    const wanted = shoppers.find((s) => s.channel === channel && s.address === decodeURIComponent(address || ""));
    if (wanted) open(wanted);
  }

  document.addEventListener("DOMContentLoaded", () => {
    boot().catch((error) => showError("Could not start: " + error.message));
  });
})();
