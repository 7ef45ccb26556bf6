// The web chat page: every reply is drawn with textContent (never innerHTML), links made clickable safely.
"use strict";
const strings = JSON.parse(document.getElementById("strings").textContent);
const log = document.getElementById("log");
const text = document.getElementById("text");
const file = document.getElementById("file");
const progress = new Map();
document.getElementById("send").textContent = strings.send;
document.getElementById("photo-label").textContent = strings.photo;
text.placeholder = strings.placeholder;

function newId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function appendText(parent, value) {
  const urls = /(https?:\/\/[^\s]+)/g;
  let last = 0;
  for (const match of value.matchAll(urls)) {
    parent.append(value.slice(last, match.index));
    const a = document.createElement("a");
    a.href = match[0];
    a.textContent = match[0];
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    parent.append(a);
    last = match.index + match[0].length;
  }
  parent.append(value.slice(last));
}

function bubble(who) {
  const div = document.createElement("div");
  div.className = "msg " + who;
  log.append(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

function render(reply) {
  if (reply.type === "action") return;
  if (reply.type === "progress") {
    let div = progress.get(reply.key);
    if (!div) { div = bubble("bot"); progress.set(reply.key, div); }
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
    const row = document.createElement("div");
    row.className = "buttons";
    for (const b of reply.buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = b.label;
      button.dataset.payload = b.payload;
      button.addEventListener("click", () => { bubble("me").textContent = b.label; post({ payload: b.payload }); });
      row.append(button);
    }
    div.append(row);
  }
  if (reply.type === "image" || reply.type === "document") {
    if (reply.mime.startsWith("image/")) {
      const img = document.createElement("img");
      img.src = reply.url;
      img.alt = reply.name;
      div.append(img);
    }
    const a = document.createElement("a");
    a.href = reply.url;
    a.download = reply.name;
    a.textContent = reply.name;
    div.append(a);
    if (reply.caption) { div.append(document.createElement("br")); appendText(div, reply.caption); }
  }
  log.scrollTop = log.scrollHeight;
}

async function post(body) {
  body.id = newId();
  const response = await fetch("/webchat/messages", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await response.json();
  (data.replies || []).forEach(render);
}

document.getElementById("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const value = text.value.trim();
  if (!value) return;
  bubble("me").textContent = value;
  text.value = "";
  await post({ text: value });
});

file.addEventListener("change", async () => {
  if (!file.files.length) return;
  const form = new FormData();
  form.append("id", newId());
  for (const f of file.files) {
    form.append("photo", f);
    const div = bubble("me");
    const img = document.createElement("img");
    img.src = URL.createObjectURL(f);
    div.append(img);
  }
  file.value = "";
  const response = await fetch("/webchat/photos", { method: "POST", body: form });
  const data = await response.json();
  (data.replies || []).forEach(render);
});

function listen() {
  const source = new EventSource("/webchat/events");
  const offline = document.getElementById("offline");
  source.onopen = () => { offline.style.display = "none"; };
  source.onmessage = (e) => { const item = JSON.parse(e.data); (item.replies || []).forEach(render); };
  source.onerror = () => { offline.textContent = strings.offline; offline.style.display = "block"; };
}
listen();
if (strings.fresh) post({ text: "/start" });
