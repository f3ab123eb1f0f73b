// The agentic console's little JavaScript: the run page follows the run's events (Server-Sent
// Events) and redraws its live part from the server; the controls post with the page's CSRF
// token and who you are. No framework, no build step.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const who = document.getElementById("who");
who.value = localStorage.getItem("agentic-who") || "";
who.addEventListener("change", () => localStorage.setItem("agentic-who", who.value.trim()));
const AWAY = { error: "the console did not answer: is it still running? (reload the page)" };

async function post(url, body) {
  // The console's reply as {ok, ...} or {error}; a console that is away is one line too.
  try {
    const response = await fetch(url, { method: "POST", body });
    return await response.json().catch(() => AWAY);
  } catch {
    return AWAY;
  }
}

function clock(at) {
  // Local time, 24 hours, as `events` prints it.
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

function day(at) {
  const moment = new Date(at);
  const pad = (n) => String(n).padStart(2, "0");
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}`;
}

function localTimes(root) {
  // The server writes times in UTC; the page shows them in the browser's time, as the events.
  root.querySelectorAll("time[datetime]").forEach((time) => {
    time.textContent = (time.dataset.date ? day(time.dateTime) + " " : "") + clock(time.dateTime);
  });
}
localTimes(document);

const start = document.getElementById("start");
if (start) {
  start.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new FormData(start);
    body.set("csrf", csrf);
    const reply = await post("/runs", body);
    if (reply.run) window.location = reply.run;
    else document.getElementById("start-message").textContent = reply.error;
  });
}

const run = document.getElementById("run");
if (run) {
  const runId = run.dataset.run;
  const base = "/runs/" + encodeURIComponent(runId);
  const live = document.getElementById("live");
  let selected = null;
  let redrawing = null;
  let controlsStale = false; // kept as they were while a person was in them
  let said = null; // the last control's reply, shown again after each redraw

  function typingInControls() {
    const active = document.activeElement;
    return Boolean(active && active.closest("#live .controls form"));
  }

  async function redraw(force = false) {
    // Events come in bursts: one redraw for each burst.
    if (redrawing && !force) return;
    clearTimeout(redrawing);
    redrawing = setTimeout(async () => {
      redrawing = null;
      let response;
      try {
        response = await fetch(base + "/live", { headers: { Accept: "text/html" } });
      } catch {
        return; // the console is away; the next event (after its reconnection) redraws
      }
      if (!response.ok) return;
      const fresh = document.createElement("div");
      fresh.innerHTML = await response.text();
      swap(fresh, !force && typingInControls());
      if (selected) showTask(selected, false);
    }, 150);
  }

  function swap(fresh, typing) {
    // The graph, the facts and the timeline always follow the run; the controls a person is
    // typing in stay as they are (never wipe what they type) until they leave them.
    const graph = live.querySelector(".graph");
    const scrolled = graph ? [graph.scrollLeft, graph.scrollTop] : [0, 0];
    const open = [...live.querySelectorAll("details[open]")].map((d) => d.parentElement.id);
    const controls = live.querySelector(":scope > .controls");
    const freshControls = fresh.querySelector(":scope > .controls");
    controlsStale = Boolean(typing && controls && freshControls);
    if (controlsStale) {
      // Everything around the controls, in place: moving them would take the focus away.
      const nodes = [...fresh.childNodes];
      const at = nodes.indexOf(freshControls);
      [...live.childNodes].forEach((node) => { if (node !== controls) node.remove(); });
      controls.before(...nodes.slice(0, at));
      controls.after(...nodes.slice(at + 1));
    } else {
      live.replaceChildren(...fresh.childNodes);
    }
    open.forEach((id) => { const d = id && live.querySelector("#" + CSS.escape(id) + " details"); if (d) d.open = true; });
    const freshGraph = live.querySelector(".graph");
    if (freshGraph) [freshGraph.scrollLeft, freshGraph.scrollTop] = scrolled;
    localTimes(live);
    tell(said);
    wire();
  }

  function tell(reply) {
    said = reply;
    const message = document.getElementById("message");
    if (!message) return;
    message.textContent = reply ? reply.error || reply.message : "";
    message.classList.toggle("bad", Boolean(reply && reply.error));
    message.hidden = !reply;
  }

  async function showTask(taskId, scroll = true) {
    selected = taskId;
    document.querySelectorAll("g.task").forEach((g) => g.classList.toggle("selected", g.dataset.task === taskId));
    let text;
    try {
      const response = await fetch(base + "/tasks/" + encodeURIComponent(taskId));
      text = await response.text();
    } catch {
      return;
    }
    const details = document.getElementById("details");
    details.innerHTML = text;
    localTimes(details);
    if (scroll) details.scrollTop = 0;
  }

  function wire() {
    document.querySelectorAll("g.task").forEach((g) => {
      g.addEventListener("click", (event) => { if (!event.target.closest("a")) showTask(g.dataset.task); });
      g.addEventListener("keydown", (event) => { if (event.key === "Enter") showTask(g.dataset.task); });
    });
    document.querySelectorAll("form.act:not([data-wired])").forEach((form) => {
      form.dataset.wired = "yes"; // a form kept across a redraw is wired once
      form.addEventListener("submit", act);
    });
  }

  async function act(event) {
    event.preventDefault();
    const form = event.currentTarget;
    if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
    const body = new FormData(form);
    body.set("csrf", csrf);
    body.set("by", who.value.trim());
    const reply = await post(base + "/" + form.dataset.action, body);
    tell(reply);
    if (!reply.error) { form.reset(); redraw(true); }
  }

  live.addEventListener("focusout", (event) => {
    // Leaving the controls: show what changed in them while they were kept.
    const leaving = !event.relatedTarget || !event.relatedTarget.closest("#live .controls");
    if (controlsStale && leaving) setTimeout(() => { if (!typingInControls()) redraw(true); }, 0);
  });

  const list = document.getElementById("events");
  const source = new EventSource(base + "/events");
  source.addEventListener("run", (event) => {
    const told = JSON.parse(event.data);
    const item = document.createElement("li");
    item.value = told.offset; // numbered by offset, as `events` numbers them
    item.textContent = clock(told.at) + "  " + told.line;
    item.dataset.kind = told.kind;
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
    redraw();
  });
  source.addEventListener("end", () => { source.close(); redraw(); });
  wire();
}
