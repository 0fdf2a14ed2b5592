// The organisers' live page (docs/organiser-page.md). Plain script, no build step.
//
// The key lives in sessionStorage (this tab only) and goes out only as `Authorization: Bearer`
// to this origin's /v1 API; never in a URL. Live updates come from the SSE route read with
// fetch() (EventSource cannot send that header): a ReadableStream parsed here, resumed with
// `Last-Event-ID` after a drop. Everything shown is built with textContent, never innerHTML:
// names and titles are other people's input.
"use strict";

(() => {
  const STORED_KEY = "registry.organiser.key";
  const STORED_EVENT = "registry.organiser.event";
  // Facts that change nothing but seats and queues; any other fact: reread the event itself.
  const SEAT_FACTS = new Set([
    "SeatAssigned", "Waitlisted", "PromotedFromWaitlist", "SeatReleased", "WaitlistLeft",
    "SeatMoved", "MovedToWaitlist", "WaitlistMoved", "SeatsOverlapped", "ParticipantRegistered",
    "RegistrationCancelled", "PersonalDataErased",
  ]);

  const $ = (id) => document.getElementById(id);
  const state = {
    key: null, event: null, details: null, sessions: new Map(), selected: null,
    lastId: null, retryMs: 2000, live: null,
  };

  // -- small helpers --------------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : String(child));
      }
    }
    return node;
  }

  class Problem extends Error {
    constructor(status, body) {
      const title = (body && body.title) || `HTTP ${status}`;
      super(title);
      this.status = status;
      this.title = title;
      this.detail = (body && body.detail) || "";
    }
  }

  function describe(error) {
    if (error instanceof Problem) return { title: `${error.title} (${error.status})`, detail: error.detail };
    return { title: "The server could not be reached", detail: String(error.message || error) };
  }

  function problemBox(error, hint) {
    const { title, detail } = describe(error);
    return [el("strong", {}, title), detail ? `: ${detail}` : "", hint ? ` ${hint}` : ""];
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${state.key}`, Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      // A command sent twice (a double click, a retry) is applied once.
      if (window.crypto && crypto.randomUUID) headers["Idempotency-Key"] = crypto.randomUUID();
      init.body = JSON.stringify(body);
    }
    const answer = await fetch(path, init);
    const text = await answer.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!answer.ok) throw new Problem(answer.status, data);
    return data;
  }

  const eventPath = (rest = "") => `/v1/events/${encodeURIComponent(state.event)}${rest}`;
  const after = (position) => (position ? `after=${position}` : "");
  const sleep = (ms, signal) => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });

  function setStatus(text) { $("status").textContent = text; }

  function showError(error, hint) {
    const box = $("error");
    box.replaceChildren(...problemBox(error, hint));
    box.hidden = false;
  }

  function clearError() { $("error").hidden = true; $("error").replaceChildren(); }

  // -- times ----------------------------------------------------------------------------------

  function clock(iso) {
    const options = { hour: "2-digit", minute: "2-digit", hour12: false };
    if (state.details && state.details.end_date) Object.assign(options, { weekday: "short", day: "numeric" });
    if (state.details) options.timeZone = state.details.timezone;
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  }

  const range = (row) => `${clock(row.starts_at)}–${clock(row.ends_at)}`;

  // -- the timetable --------------------------------------------------------------------------

  function roomName(roomId) {
    if (roomId === null) return "No room (online)";
    const room = (state.details ? state.details.rooms : []).find((r) => r.room_id === roomId);
    return room ? room.name : roomId;
  }

  function renderGrid() {
    const rows = [...state.sessions.values()];
    const slots = [...new Map(rows.map((r) => [`${r.starts_at}|${r.ends_at}`, r])).values()]
      .sort((a, b) => (Date.parse(a.starts_at) - Date.parse(b.starts_at))
        || (Date.parse(a.ends_at) - Date.parse(b.ends_at)));
    const firstUse = new Map();
    for (const r of rows) {
      const t = Date.parse(r.starts_at);
      if (!firstUse.has(r.room_id) || t < firstUse.get(r.room_id)) firstUse.set(r.room_id, t);
    }
    const rooms = [...firstUse.keys()].sort((a, b) => (firstUse.get(a) - firstUse.get(b))
      || roomName(a).localeCompare(roomName(b)));
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.session : undefined;

    const head = el("tr", {}, el("th", { scope: "col" }, "Time"),
      ...rooms.map((r) => el("th", { scope: "col" }, roomName(r))));
    const body = slots.map((slot) => el("tr", {},
      el("th", { scope: "row", class: "time" }, range(slot)),
      ...rooms.map((roomId) => el("td", {}, ...rows
        .filter((r) => r.room_id === roomId && r.starts_at === slot.starts_at && r.ends_at === slot.ends_at)
        .sort((a, b) => a.session_id.localeCompare(b.session_id))
        .map(card)))));
    $("grid").replaceChildren($("grid").querySelector("caption"),
      el("thead", {}, head), el("tbody", {}, ...body));
    if (focused) {
      const again = document.querySelector(`[data-session="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  function cardContent(row) {
    const capacity = row.capacity === null ? "unlimited" : row.capacity;
    const share = row.capacity ? Math.min(100, (100 * row.seated) / row.capacity) : 0;
    const badges = [];
    if (row.state === "cancelled") badges.push(el("span", { class: "badge" }, "cancelled"));
    if (row.state === "merged") badges.push(el("span", { class: "badge" }, "merged"));
    if (row.over_capacity > 0) {
      badges.push(el("span", { class: "badge over" }, `over capacity by ${row.over_capacity}`));
    } else if (row.free === 0 && row.state === "open") {
      badges.push(el("span", { class: "badge full" }, "full"));
    }
    const bar = el("span", { class: "bar", "aria-hidden": "true" }, el("span", {}));
    bar.firstChild.style.width = `${share}%`;
    return [
      el("span", { class: "title" }, row.title),
      el("span", { class: "numbers" },
        el("span", { class: "seated" }, row.seated), " / ",
        el("span", { class: "capacity" }, capacity), " seated"),
      bar,
      el("span", { class: "numbers" }, "waitlist: ",
        el("span", { class: "waitlisted" }, row.waitlisted)),
      el("span", { class: "badges" }, ...badges),
    ];
  }

  function cardClass(row) {
    return ["session-card",
      row.over_capacity > 0 ? "is-over" : "",
      row.free === 0 ? "is-full" : "",
      row.state !== "open" ? "is-closed" : ""].filter(Boolean).join(" ");
  }

  function card(row) {
    const button = el("button", {
      type: "button", class: cardClass(row), "data-session": row.session_id,
      "aria-pressed": String(state.selected === row.session_id),
    }, ...cardContent(row));
    button.addEventListener("click", () => select(row.session_id));
    return button;
  }

  function updateCard(row) {
    const button = document.querySelector(`[data-session="${CSS.escape(row.session_id)}"]`);
    if (!button) return renderGrid();
    button.className = cardClass(row);
    button.replaceChildren(...cardContent(row));
  }

  // -- the live stream ------------------------------------------------------------------------

  function apply(update) {
    if (update.complete) state.sessions = new Map();
    let moved = update.complete;
    for (const row of update.sessions) {
      const before = state.sessions.get(row.session_id);
      moved = moved || !before || before.room_id !== row.room_id
        || before.starts_at !== row.starts_at || before.ends_at !== row.ends_at;
      state.sessions.set(row.session_id, row);
    }
    if (moved) renderGrid(); else update.sessions.forEach(updateCard);
    const changed = update.sessions.map((r) => r.title);
    setStatus(`Live: up to date at log position ${update.position}.`
      + (changed.length && !update.complete ? ` Changed: ${changed.join(", ")}.` : ""));
    if (update.complete || update.facts.some((f) => !SEAT_FACTS.has(f))) refreshEvent(update.position);
    refreshConflicts(update.position);
    if (state.selected && update.sessions.some((r) => r.session_id === state.selected)) {
      showSession(update.position);
    }
  }

  function dispatch(message) {
    if (message.event === "occupancy" && message.data.length) apply(JSON.parse(message.data.join("\n")));
    if (message.id !== null) state.lastId = message.id;
  }

  function parseLine(message, line) {
    if (line.startsWith(":")) return; // a comment: the heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "id") message.id = value;
    else if (field === "event") message.event = value;
    else if (field === "data") message.data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) state.retryMs = Number(value);
  }

  async function readStream(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let message = { id: null, event: "message", data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
        if (line === "") {
          dispatch(message);
          message = { id: null, event: "message", data: [] };
        } else {
          parseLine(message, line);
        }
      }
    }
  }

  async function follow(control) {
    while (!control.signal.aborted) {
      try {
        const headers = { Authorization: `Bearer ${state.key}`, Accept: "text/event-stream" };
        if (state.lastId !== null) headers["Last-Event-ID"] = state.lastId;
        const answer = await fetch(eventPath("/live"), { headers, cache: "no-store", signal: control.signal });
        if (!answer.ok) {
          const problem = new Problem(answer.status, await answer.json().catch(() => null));
          if (answer.status < 500) { showError(problem, "Live updates stopped."); setStatus("Not live."); return; }
          throw problem;
        }
        await readStream(answer.body);
      } catch (error) {
        if (control.signal.aborted) return;
      }
      setStatus(`Connection lost; reconnecting in ${Math.round(state.retryMs / 100) / 10} s.`);
      await sleep(state.retryMs, control.signal);
    }
  }

  // -- reads ----------------------------------------------------------------------------------

  async function refreshEvent(position) {
    try {
      state.details = await api("GET", eventPath(position ? `?${after(position)}` : ""));
    } catch (error) { return showError(error); }
    const d = state.details;
    $("event-title").textContent = d.title;
    $("event-facts").textContent = `${d.date}${d.end_date ? ` to ${d.end_date}` : ""}`
      + `${d.venue ? `, ${d.venue}` : ""}. Registration ${d.registration}; event ${d.state}.`;
    $("open-registration").disabled = d.registration === "open";
    $("close-registration").disabled = d.registration === "closed";
    if (state.sessions.size) renderGrid();
  }

  async function refreshConflicts(position) {
    let answer;
    try { answer = await api("GET", eventPath(`/conflicts?limit=1000&${after(position)}`)); } catch (error) { return; }
    const title = (id) => (state.sessions.get(id) || { title: id }).title;
    const items = answer.items.map((c) => el("li", {},
      el("strong", {}, c.erased ? "(erased)" : (c.name || c.participant_id)),
      ` holds seats in: ${c.session_ids.map(title).join("; ")}`));
    $("conflicts").replaceChildren(...(items.length ? items : [el("li", {}, "None.")]));
  }

  function person(item, extra) {
    return el("li", {}, item.erased ? "(erased)" : (item.name || item.participant_id),
      el("small", {}, ` ${item.participant_id}${extra || ""}`));
  }

  async function showSession(position) {
    const row = state.sessions.get(state.selected);
    if (!row) return;
    $("session-title").textContent = row.title;
    const capacity = row.capacity === null ? "unlimited" : row.capacity;
    $("session-facts").textContent = `${range(row)}, ${roomName(row.room_id)}. `
      + `${row.seated} of ${capacity} seats taken, ${row.waitlisted} waiting; ${row.state}.`;
    const base = `/sessions/${encodeURIComponent(row.session_id)}`;
    const query = `?limit=1000&${after(position)}`;
    try {
      const [seated, waiting] = await Promise.all([
        api("GET", eventPath(`${base}/attendees${query}`)),
        api("GET", eventPath(`${base}/waitlist${query}`)),
      ]);
      $("attendees").replaceChildren(...seated.items.map((i) => person(i)));
      $("waitlist").replaceChildren(...waiting.items.map((i) => person(i,
        i.fallback_session_id ? `, keeps a seat in ${i.fallback_session_id}` : "")));
    } catch (error) { showError(error); }
  }

  function select(sessionId) {
    state.selected = sessionId;
    for (const button of document.querySelectorAll(".session-card")) {
      button.setAttribute("aria-pressed", String(button.dataset.session === sessionId));
    }
    const row = state.sessions.get(sessionId);
    $("session").hidden = false;
    $("answer").replaceChildren();
    $("capacity").value = row.capacity === null ? "" : row.capacity;
    const rooms = (state.details ? state.details.rooms : []);
    $("room").replaceChildren(el("option", { value: "" }, "No room"),
      ...rooms.map((r) => el("option", { value: r.room_id, selected: r.room_id === row.room_id }, r.name)));
    $("merge-into").replaceChildren(...[...state.sessions.values()]
      .filter((s) => s.session_id !== sessionId)
      .map((s) => el("option", { value: s.session_id }, `${s.title} (${range(s)})`)));
    showSession(null);
    $("session-title").focus();
  }

  // -- actions --------------------------------------------------------------------------------

  async function act(doing, method, path, body) {
    const box = $("answer");
    box.replaceChildren(el("p", {}, `${doing}…`));
    try {
      const answer = await api(method, path, body);
      const facts = Object.entries(answer || {}).map(([k, v]) =>
        `${k}: ${Array.isArray(v) ? (v.length ? v.join(", ") : "none") : v}`);
      box.replaceChildren(el("div", { class: "ok" }, el("strong", {}, `${doing}: done.`), ` ${facts.join("; ")}`));
    } catch (error) {
      box.replaceChildren(el("div", { class: "problem", role: "alert" }, ...problemBox(error)));
    }
  }

  function onSubmit(id, handler) {
    $(id).addEventListener("submit", (e) => { e.preventDefault(); handler(); });
  }

  function wireActions() {
    const session = () => eventPath(`/sessions/${encodeURIComponent(state.selected)}`);
    onSubmit("capacity-form", () => act("Change capacity", "PATCH", session(), { capacity: Number($("capacity").value) }));
    onSubmit("room-form", () => act("Move", "PATCH", session(), { room_id: $("room").value || null }));
    onSubmit("cancel-form", () => act("Cancel the session", "POST", `${session()}/cancel`, { reason: $("cancel-reason").value }));
    onSubmit("merge-form", () => act("Merge", "POST", `${session()}/merge`, { into: $("merge-into").value }));
    for (const [id, verb] of [["open-registration", "open"], ["close-registration", "close"]]) {
      $(id).addEventListener("click", async () => {
        try {
          const answer = await api("POST", eventPath(`/registration/${verb}`), {});
          setStatus(`Registration ${verb === "open" ? "opened" : "closed"} (log position ${answer.position}).`);
        } catch (error) { showError(error); }
      });
    }
  }

  // -- connecting -----------------------------------------------------------------------------

  async function connect(event, key) {
    if (state.live) state.live.abort();
    Object.assign(state, { key, event, details: null, sessions: new Map(), selected: null, lastId: null });
    clearError();
    setStatus("Connecting…");
    try {
      state.details = await api("GET", eventPath());
    } catch (error) {
      const hint = error.status === 401 ? "Check the organiser API key."
        : error.status === 403 ? "This page needs a key with the organiser role." : "";
      if (error.status === 401 || error.status === 403) sessionStorage.removeItem(STORED_KEY);
      showError(error, hint);
      setStatus("Not connected.");
      $("page").hidden = true;
      return;
    }
    sessionStorage.setItem(STORED_KEY, key);
    sessionStorage.setItem(STORED_EVENT, event);
    $("page").hidden = false;
    $("session").hidden = true;
    await refreshEvent(null);
    state.live = new AbortController();
    follow(state.live);
  }

  function start() {
    wireActions();
    $("event-id").value = sessionStorage.getItem(STORED_EVENT) || "";
    $("connect").addEventListener("submit", (e) => {
      e.preventDefault();
      connect($("event-id").value.trim(), $("api-key").value.trim());
      $("api-key").value = "";
    });
    $("forget").addEventListener("click", () => {
      sessionStorage.removeItem(STORED_KEY);
      if (state.live) state.live.abort();
      $("page").hidden = true;
      setStatus("Key forgotten. Not connected.");
    });
    const key = sessionStorage.getItem(STORED_KEY);
    if (key && $("event-id").value) connect($("event-id").value, key);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
