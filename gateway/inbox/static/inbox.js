// Live updates, canned answers and notifications for the inbox pages.
// Every piece of shopper text is set with textContent: it is data, never markup.
"use strict";

const POLL_MS = 2000;
const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (r.status === 401) { window.location = "/inbox/login?next=" + encodeURIComponent(location.pathname); }
  // Another agent claimed the thread: the page says so (and why) instead of failing each poll.
  if (r.status === 403) { window.location.reload(); }
  return r.json();
}

function beep() {
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 880;
    osc.connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.15);
  } catch (e) { /* no audio: the notification is enough */ }
}

function notify(text) {
  beep();
  if ("Notification" in window && Notification.permission === "granted") {
    new Notification("Inbox", { body: text });
  }
}

function setupNotifications() {
  const button = document.getElementById("notify");
  if (!button || !("Notification" in window) || Notification.permission !== "default") return;
  button.hidden = false;
  button.addEventListener("click", () => Notification.requestPermission().then(() => { button.hidden = true; }));
}

function showTimes() {
  for (const el of document.querySelectorAll("time[data-at]")) {
    const at = new Date(parseFloat(el.dataset.at) * 1000);
    el.textContent = at.toLocaleString();
  }
  for (const el of document.querySelectorAll("td.wait[data-since]")) {
    const minutes = Math.floor((Date.now() / 1000 - parseFloat(el.dataset.since)) / 60);
    el.textContent = minutes + " min";
  }
}

// ---- the queue: reload when the inbox version moves; ring for a new waiting thread ----
function pollQueue() {
  const box = document.getElementById("mine");
  let version = parseInt(box.dataset.version, 10);
  let waiting = parseInt(document.getElementById("waiting-total").textContent, 10);
  setInterval(async () => {
    const u = await getJSON("/inbox/api/updates?since=" + version);
    if (!u.changed) return;
    if (u.waiting > waiting) notify(`${u.waiting} shopper(s) waiting`);
    version = u.version;
    waiting = u.waiting;
    const live = document.getElementById("live");
    live.textContent = "Updated " + new Date().toLocaleTimeString();
    // Re-render the server's page in place: the HTML is escaped by the server's templates.
    const r = await fetch(location.href, { credentials: "same-origin" });
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    document.querySelector("main").replaceWith(doc.querySelector("main"));
    showTimes();
  }, POLL_MS);
}

// ---- a thread: append new messages as they are saved ----
function messageItem(m) {
  const li = document.createElement("li");
  li.className = "msg " + m.direction;
  li.dataset.seq = m.seq;
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = m.author;
  if (m.photo) {  // the server sends https URLs only; a src is never parsed as markup
    const img = document.createElement("img");
    img.className = "avatar";
    img.alt = "";
    img.width = img.height = 20;
    img.referrerPolicy = "no-referrer";
    img.src = m.photo;
    author.prepend(img, " ");
  }
  const text = document.createElement("span");
  text.className = "text";
  text.dir = "auto"; // Arabic reads right to left whatever it is mixed with
  text.textContent = m.text;
  const time = document.createElement("time");
  time.dataset.at = m.at;
  li.append(author, text, time);
  return li;
}

function pollThread() {
  const layout = document.querySelector(".thread-layout");
  const id = layout.dataset.thread;
  const list = document.getElementById("messages");
  setInterval(async () => {
    const data = await getJSON(`/inbox/api/threads/${encodeURIComponent(id)}/messages`);
    const last = Math.max(0, ...[...list.children].map((li) => parseInt(li.dataset.seq, 10)));
    let added = 0;
    let shopperWrote = false;
    for (const m of data.messages) {
      if (m.seq > last) { list.append(messageItem(m)); added += 1; shopperWrote ||= m.direction === "in"; }
    }
    // The shopper answered while the window was closed: it is open again, show the composer.
    if (shopperWrote && document.querySelector("#window.closed")) { location.reload(); return; }
    if (added) { showTimes(); list.lastElementChild.scrollIntoView({ block: "end" }); }
  }, POLL_MS);
}

// ---- canned answers: a click, or /name then space ----
function setupCanned() {
  const composer = document.getElementById("composer");
  if (!composer) return;
  const answers = {};
  for (const b of document.querySelectorAll("[data-canned]")) {
    answers[b.dataset.name] = b.dataset.canned;
    b.addEventListener("click", () => { composer.value = b.dataset.canned; composer.focus(); });
  }
  composer.addEventListener("input", () => {
    const m = composer.value.match(/(^|\s)\/([\w-]+)\s$/);
    if (m && answers[m[2]] !== undefined) {
      composer.value = composer.value.slice(0, composer.value.length - m[2].length - 2) + answers[m[2]];
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  showTimes();
  setupNotifications();
  setupCanned();
  const page = document.body.dataset.page;
  if (page === "queue") pollQueue();
  if (page === "thread") {
    pollThread();
    const list = document.getElementById("messages");
    if (list.lastElementChild) list.lastElementChild.scrollIntoView({ block: "end" });
  }
});
