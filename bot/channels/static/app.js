// The web chat page. Every reply is drawn with textContent (never innerHTML); links are made clickable safely.
// Sends go through one outbox: each message carries its own id, is retried with the same id (the server
// answers a repeated id with the first answer, so nothing is done or charged twice), and shows its state.
"use strict";
const S = JSON.parse(document.getElementById("strings").textContent);
const $ = (id) => document.getElementById(id);
const log = $("log"), text = $("text"), file = $("file"), status = $("status");
const progress = new Map(), seen = new Set(), sent = new Map();
// The last entry of the conversation the page holds with nothing missing before it: counted only from the
// kept history and the event stream, which deliver in order. A POST's answer is drawn but does not count:
// a result kept earlier may not have reached this page yet, and the catch-up must still bring it.
let caughtUp = 0;
const outbox = [];
let sending = false;
let stick = true;  // follow new messages while the seller is at the bottom; not after they scroll up
let ownScroll = false;  // the scroll event of our own toBottom(): content may have grown before it is handled
log.addEventListener("scroll", () => { if (!ownScroll) stick = nearBottom(); });

function newId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function el(tag, cls, parent) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (parent) parent.append(node);
  return node;
}

function appendText(parent, value) {
  let last = 0;
  for (const match of value.matchAll(/(https?:\/\/[^\s]+)/g)) {
    parent.append(value.slice(last, match.index));
    const a = el("a");
    a.href = a.textContent = match[0];
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    parent.append(a);
    last = match.index + match[0].length;
  }
  parent.append(value.slice(last));
}

function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 120; }
function toBottom() {
  // Scroll events are dispatched before the next frame's callbacks: until then, a scroll is ours, and a
  // picture or message that grew the log meanwhile does not make it look as if the seller scrolled up.
  ownScroll = true;
  log.scrollTop = log.scrollHeight;
  requestAnimationFrame(() => { ownScroll = false; });
}

function bubble(who) { return el("div", "msg " + who, log); }

function size(bytes) {
  return bytes > 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " KB";
}

function picture(parent, item) {
  // A light preview inline; the full file opens on tap (and downloads from the link under it).
  if (item.preview) {
    const a = el("a", "pic", parent);
    a.href = item.url;
    a.target = "_blank";
    const img = el("img", "", a);
    img.src = item.preview;
    img.alt = item.name;
    img.loading = "lazy";
    img.addEventListener("load", () => { if (stick) toBottom(); });
    img.addEventListener("error", () => a.remove());  // purged after its retention window: the link stays
  }
}

function render(reply) {
  if (reply.type === "action") return;
  if (reply.type === "progress") {
    let div = progress.get(reply.key);
    if (!div) { div = bubble("bot progress"); progress.set(reply.key, div); }
    div.textContent = "";
    appendText(div, reply.text);
    return;
  }
  if (reply.type === "album") { reply.items.forEach(render); return; }
  const div = bubble("bot");
  if (reply.type === "text" || reply.type === "choice" || reply.type === "link") appendText(div, reply.text);
  if (reply.type === "link") {
    const a = document.createElement("a");
    a.className = "pay";
    a.href = reply.url;
    a.textContent = reply.label;
    a.rel = "noopener noreferrer";
    div.append(document.createElement("br"), a);
  }
  if (reply.type === "choice") {
    const row = el("div", "buttons", div);
    for (const b of reply.buttons) {
      const button = el("button", "", row);
      button.type = "button";
      if (b.thumb) { const img = el("img", "", button); img.src = b.thumb; img.alt = ""; }
      button.append(b.label);
      button.dataset.payload = b.payload;
      button.addEventListener("click", () => send({ payload: b.payload, label: b.label }));
    }
  }
  if (reply.type === "image" || reply.type === "document") {
    picture(div, reply);
    const a = el("a", "file", div);
    a.href = reply.url + "?download=1";
    a.download = reply.name;
    a.textContent = "⬇ " + reply.name + (reply.bytes ? " (" + size(reply.bytes) + ")" : "");
    if (reply.caption) { el("br", "", div); appendText(div, reply.caption); }
  }
}

function drawMine(mine, node) {
  const div = node || bubble("me");
  if (mine.type === "text") { div.textContent = mine.text; }
  if (mine.type === "photos") {
    div.textContent = "";
    for (const f of mine.files || []) { if (f.preview) picture(div, f); else div.append("📷 "); }
  }
  return div;
}

function drawEntry(entry) {
  if (entry.entry) {
    if (seen.has(entry.entry)) return;
    seen.add(entry.entry);
  }
  if (entry.me && !sent.has(entry.client)) drawMine(entry.me);  // this tab's own message is already shown
  const replies = entry.replies || [];
  if (replies.some((r) => r.type === "document" || r.type === "image")) {
    // The results are here: the "you are #1 in line" / "working on it" bubbles are done.
    for (const div of progress.values()) div.remove();
    progress.clear();
  }
  replies.forEach(render);
}

// Outbox ---------------------------------------------------------------------------------------------

function setState(job, state) {
  job.state = state;
  job.div.classList.toggle("failed", state === "failed");
  let line = job.div.querySelector(".state");
  if (!line) line = el("span", "state", job.div);
  line.textContent = state === "sending" ? S.sending : state === "failed" ? S.failed : "✓";
  if (state === "sending" && job.form) {
    job.bar = job.bar || el("div", "bar", job.div);
    if (!job.bar.firstChild) el("i", "", job.bar);
  }
}

function send(body, files) {
  const job = { id: newId(), body, files, tries: 0 };
  sent.set(job.id, job);
  job.div = bubble("me");
  if (files) {
    for (const f of files) { const img = el("img", "", job.div); img.src = URL.createObjectURL(f); img.alt = f.name; }
    job.form = true;
  } else if (!body.quiet) {
    job.div.textContent = body.label || body.text;
  } else {
    job.div.remove();
    job.div = el("div");
  }
  job.div.addEventListener("click", () => { if (job.state === "failed") { job.tries = 0; queue(job); } });
  queue(job);
  toBottom();
}

function queue(job) {
  setState(job, "sending");
  outbox.push(job);
  pump();
}

async function pump() {
  if (sending) return;
  sending = true;
  while (outbox.length) {
    const job = outbox[0];
    try {
      const data = await post(job);
      outbox.shift();
      setState(job, "sent");
      if (job.bar) job.bar.remove();
      if (data.me && data.me.type === "photos") {
        const state = job.div.querySelector(".state");
        drawMine(data.me, job.div);
        job.div.append(state);
      }
      drawEntry({ entry: data.entry, replies: data.replies });
      if (job.body.payload && job.body.payload.startsWith("lang:")) location.reload();
      toBottom();
    } catch (error) {
      job.tries += 1;
      if (job.tries >= 4 || !navigator.onLine || error.final) {
        outbox.shift();
        setState(job, "failed");
        continue;
      }
      await new Promise((r) => setTimeout(r, 1000 * 2 ** job.tries));
    }
  }
  sending = false;
}

function post(job) {
  // XMLHttpRequest, not fetch: it reports upload progress.
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    if (job.files) {
      const form = new FormData();
      form.append("id", job.id);
      for (const f of job.files) form.append("photo", f);
      xhr.open("POST", "/webchat/photos");
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable && job.bar) job.bar.firstChild.style.width = (100 * e.loaded / e.total) + "%";
      };
      xhr.send(form);
    } else {
      xhr.open("POST", "/webchat/messages");
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.send(JSON.stringify({ ...job.body, id: job.id }));
    }
    xhr.timeout = 120000;
    xhr.onload = () => {
      if (xhr.status === 200) resolve(JSON.parse(xhr.responseText));
      else reject(Object.assign(new Error("HTTP " + xhr.status), { final: xhr.status >= 400 && xhr.status < 500 }));
    };
    xhr.onerror = xhr.ontimeout = () => reject(new Error("network"));
  });
}

function retryFailed() { for (const div of log.querySelectorAll(".me.failed")) div.click(); }
window.addEventListener("online", retryFailed);  // the phone is back on the network

// Composer, header, gallery ----------------------------------------------------------------------------

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = text.value.trim();
  if (!value) return;
  text.value = "";
  send({ text: value });
});

$("photo-label").addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") { e.preventDefault(); file.click(); }
});

file.addEventListener("change", () => {
  if (!file.files.length) return;
  const picked = Array.from(file.files);
  for (let i = 0; i < picked.length; i += 10) send({}, picked.slice(i, i + 10));  // albums of 10, as on phones
  file.value = "";
});

$("other-lang").addEventListener("click", () => {
  send({ payload: "lang:" + S["other-lang-code"], label: S["other-lang"] });
});

async function openGallery() {
  const grid = $("grid");
  grid.textContent = "";
  $("gallery").hidden = false;
  $("close-gallery").focus();
  const data = await (await fetch("/webchat/gallery")).json();
  if (!data.jobs.length) { el("p", "", grid).textContent = S["gallery-empty"]; $("download-all").hidden = true; return; }
  $("download-all").hidden = false;
  for (const job of data.jobs) {
    for (const f of job.files) {
      const fig = el("figure", "", grid);
      const a = el("a", "", fig);
      a.href = f.url;
      a.target = "_blank";
      const img = el("img", "", a);
      img.src = f.preview;
      img.alt = f.name;
      img.loading = "lazy";
      const cap = el("figcaption", "", fig);
      cap.append(job.label);
      const link = el("a", "", cap);
      link.href = f.url + "?download=1";
      link.download = f.name;
      link.textContent = "⬇ " + f.name + " (" + size(f.bytes) + ")";
    }
  }
}

$("open-gallery").addEventListener("click", openGallery);
$("close-gallery").addEventListener("click", () => { $("gallery").hidden = true; $("open-gallery").focus(); });
document.addEventListener("keydown", (e) => { if (e.key === "Escape") $("gallery").hidden = true; });

// The kept conversation, then live replies ----------------------------------------------------------------

async function loadKept() {
  try {
    const data = await (await fetch("/webchat/history")).json();
    for (const entry of data.entries) { drawEntry(entry); caughtUp = Math.max(caughtUp, entry.entry); }
    toBottom();
  } catch (error) { /* the event stream below brings the conversation from the start */ }
}

// The stream starts with every turn kept after `caughtUp` (the server listens before it reads, so nothing
// falls between), and the browser's own reconnects send the last event id back: every reconnect catches up.
function listen() {
  const source = new EventSource("/webchat/events?after=" + caughtUp);
  source.onopen = () => { status.textContent = ""; retryFailed(); };  // the server is back
  source.onmessage = (e) => {
    const item = JSON.parse(e.data);
    const follow = nearBottom();
    drawEntry(item);
    if (item.entry) caughtUp = Math.max(caughtUp, item.entry);
    if (stick || follow || (item.replies || []).some((r) => r.type === "document")) toBottom();
  };
  source.onerror = () => {
    status.textContent = S.offline;
    // The browser gave up (an error page from a proxy during a restart, say): a new stream from where we are.
    if (source.readyState === EventSource.CLOSED) setTimeout(listen, 3000);
  };
}

(async () => {
  await loadKept();
  if (S.fresh || caughtUp === 0) send({ text: "/start", quiet: true });
  listen();
})();
