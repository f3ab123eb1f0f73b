// The agentic console's little JavaScript: the run page follows the run's events (Server-Sent
// Events) and redraws its live part from the server; the controls post with the page's CSRF
// token and who you are. No framework, no build step.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const who = document.getElementById("who");
who.value = localStorage.getItem("agentic-who") || "";
who.addEventListener("change", () => localStorage.setItem("agentic-who", who.value.trim()));

const start = document.getElementById("start");
if (start) {
  start.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new FormData(start);
    body.set("csrf", csrf);
    const response = await fetch("/runs", { method: "POST", body });
    const reply = await response.json().catch(() => ({ error: "the console did not answer" }));
    if (reply.run) window.location = reply.run;
    else document.getElementById("start-message").textContent = reply.error;
  });
}

const run = document.getElementById("run");
if (run) {
  const runId = run.dataset.run;
  const base = "/runs/" + encodeURIComponent(runId);
  let selected = null;
  let redrawing = null;

  async function redraw(force = false) {
    // Events come in bursts: one redraw for each burst.
    if (redrawing && !force) return;
    clearTimeout(redrawing);
    redrawing = setTimeout(async () => {
      redrawing = null;
      const response = await fetch(base + "/live", { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const open = [...document.querySelectorAll("#live details[open]")].map((d) => d.parentElement.id);
      const typing = document.activeElement && document.activeElement.closest("#live form");
      if (typing && !force) return; // never wipe what a person is typing; the next event redraws
      document.getElementById("live").innerHTML = await response.text();
      open.forEach((id) => { const d = document.querySelector("#" + CSS.escape(id) + " details"); if (d) d.open = true; });
      wire();
      if (selected) showTask(selected, false);
    }, 150);
  }

  async function showTask(taskId, scroll = true) {
    selected = taskId;
    document.querySelectorAll("g.task").forEach((g) => g.classList.toggle("selected", g.dataset.task === taskId));
    const response = await fetch(base + "/tasks/" + encodeURIComponent(taskId));
    const details = document.getElementById("details");
    details.innerHTML = await response.text();
    if (scroll) details.scrollTop = 0;
  }

  function wire() {
    document.querySelectorAll("g.task").forEach((g) => {
      g.addEventListener("click", (event) => { if (!event.target.closest("a")) showTask(g.dataset.task); });
      g.addEventListener("keydown", (event) => { if (event.key === "Enter") showTask(g.dataset.task); });
    });
    document.querySelectorAll("form.act").forEach((form) => form.addEventListener("submit", act));
  }

  async function act(event) {
    event.preventDefault();
    const form = event.currentTarget;
    if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
    const body = new FormData(form);
    body.set("csrf", csrf);
    body.set("by", who.value.trim());
    const message = document.getElementById("message");
    const response = await fetch(base + "/" + form.dataset.action, { method: "POST", body });
    const reply = await response.json().catch(() => ({ error: "the console did not answer" }));
    if (message) {
      message.textContent = reply.error || reply.message;
      message.classList.toggle("bad", Boolean(reply.error));
    }
    if (!reply.error) { form.reset(); redraw(true); }
  }

  const list = document.getElementById("events");
  const source = new EventSource(base + "/events");
  source.addEventListener("run", (event) => {
    const told = JSON.parse(event.data);
    const item = document.createElement("li");
    item.textContent = new Date(told.at).toLocaleTimeString() + "  " + told.line;
    item.dataset.kind = told.kind;
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
    redraw();
  });
  source.addEventListener("end", () => { source.close(); redraw(); });
  wire();
}
