// pdsearch pages: small helpers and one init per page (body[data-page]).
// Every action calls the REST API at /api/v1 with the page's CSRF token (the session cookie
// authenticates it); untrusted text is always set with textContent, never as HTML.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // --- the API --------------------------------------------------------------------------
  async function api(method, path, body) {
    const init = {
      method,
      headers: { "X-CSRF-Token": csrf(), Accept: "application/json" },
      credentials: "same-origin",
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch("/api/v1" + path, init);
    } catch (e) {
      return { ok: false, status: 0, data: null, message: "The service cannot be reached. Check that pdsearch is running, then try again." };
    }
    let data = null;
    const text = await resp.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (resp.status === 401 && data?.error?.code === "signed_out") {
      window.location.assign("/signin?next=" + encodeURIComponent(location.pathname + location.search));
    }
    const message = resp.ok ? "" : (data?.error?.message || `The service answered ${resp.status}. Try again.`);
    return { ok: resp.ok, status: resp.status, data, message };
  }

  function say(el, text, kind) {
    if (!el) return;
    el.textContent = text || "";
    el.classList.remove("ok", "error", "busy");
    if (kind) el.classList.add(kind);
  }

  function busy(button, on, label) {
    if (!button) return;
    if (on) {
      button.dataset.label = button.textContent;
      button.textContent = label || "Working…";
      button.disabled = true;
    } else {
      button.textContent = button.dataset.label || button.textContent;
      button.disabled = false;
    }
  }

  // "1 document", "70 documents"; many: the plural when it is not one + "s".
  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : (many || one + "s")}`;
  }

  // --- times: shown in the reader's zone, labelled, with "5 min ago" ----------------------
  function ago(date) {
    const s = Math.round((Date.now() - date.getTime()) / 1000);
    const future = s < 0;
    const a = Math.abs(s);
    let t;
    if (a < 45) t = "seconds";
    else if (a < 3600) t = Math.max(1, Math.round(a / 60)) + " min";
    else if (a < 86400) t = plural(Math.round(a / 3600), "hour");
    else t = plural(Math.round(a / 86400), "day");
    return future ? "in " + t : t + " ago";
  }

  function localize(root) {
    $$("time[datetime]", root).forEach((el) => {
      const d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.title = d.toISOString().replace(".000", "");
      // Every time on a page is in the reader's zone, and says which (e.g. "CET", "GMT+2").
      const local = d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
      el.textContent = local + " (" + ago(d) + ")";
    });
  }

  function timeEl(iso) {
    const t = document.createElement("time");
    t.setAttribute("datetime", iso);
    t.textContent = iso;
    const span = document.createElement("span");
    span.appendChild(t);
    localize(span);
    return span;
  }

  // --- copy buttons ---------------------------------------------------------------------
  function initCopy() {
    $$("[data-copy]").forEach((btn) => {
      btn.addEventListener("click", async () => {
        const src = $(btn.dataset.copy);
        if (!src) return;
        try {
          await navigator.clipboard.writeText(src.value);
        } catch (e) {
          src.select();
          document.execCommand("copy");
        }
        const old = btn.textContent;
        btn.textContent = "Copied";
        setTimeout(() => { btn.textContent = old; }, 1500);
      });
    });
  }

  // --- connector settings (Add connector, Authorization tab) -----------------------------
  const FIELDS = ["name", "api_key", "client_id", "client_secret", "base_url", "oauth_base_url"];

  function fieldError(form, field, text) {
    const el = $(`[data-error-for="${field}"]`, form);
    if (!el) return false;
    el.textContent = text || "";
    el.hidden = !text;
    return true;
  }

  function clearErrors(form) {
    FIELDS.forEach((f) => fieldError(form, f, ""));
  }

  const FIELD_LABELS = {
    name: "Name", api_key: "API key", client_id: "Client ID", client_secret: "Client secret",
    base_url: "Base URL", oauth_base_url: "OAuth base URL", region: "Region", auth: "Authorization",
  };
  // Pydantic's generic wording, said as a person would.
  const PLAIN = [
    [/^String should have at least 1 character$/, "must not be empty"],
    [/^Value should have at least 1 item after validation, not 0$/, "must not be empty"],
    [/^String should have at most (\d+) characters$/, "must be at most $1 characters"],
    [/^is required$/, "is required"],
  ];

  function plain(text) {
    for (const [re, said] of PLAIN) if (re.test(text)) return text.replace(re, said);
    return text;
  }

  // The API says "Invalid request: 'base_url': must ...; 'auth.api_key': ...": each part, as
  // "Base URL: must ...", goes beside its field.
  function fieldProblems(message) {
    const m = /^Invalid request: (.*?)\.?$/s.exec(message || "");
    if (!m) return null;
    const out = [];
    for (const part of m[1].split(/; (?=')/)) {
      const p = /^'([\w.]+)': (.*)$/s.exec(part);
      if (!p) return null;
      const field = p[1].split(".").pop();
      out.push({ field, text: `${FIELD_LABELS[field] || field}: ${plain(p[2])}` });
    }
    return out;
  }

  function showServerError(form, message, result) {
    const problems = fieldProblems(message);
    if (problems) {
      let placed = false;
      problems.forEach((p) => { placed = fieldError(form, p.field, p.text) || placed; });
      if (!placed || problems.some((p) => !FIELDS.includes(p.field))) {
        say(result, problems.map((p) => p.text).join(" "), "error");
      } else {
        say(result, "Not saved: see the message above.", "error");
      }
      return;
    }
    let placed = false;
    if (/name/i.test(message) && /taken|exists|already/i.test(message)) {
      placed = fieldError(form, "name", message) || placed;
    }
    say(result, placed ? "Not saved: see the message above." : message, "error");
  }

  function initConnectorForm() {
    const form = $("#connector-form");
    if (!form) return;
    const result = $(".form-result", form);
    const authType = () => $('input[name="auth_type"]:checked', form).value;
    const sync = () => {
      $$("[data-auth-only]", form).forEach((el) => { el.hidden = el.dataset.authOnly !== authType(); });
    };
    $$('input[name="auth_type"]', form).forEach((r) => r.addEventListener("change", sync));
    sync();

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      say(result, "");
      const v = (n) => (form.elements[n]?.value || "").trim();
      const creating = form.dataset.mode === "create";
      const type = authType();
      const body = { name: v("name"), region: $('input[name="region"]:checked', form).value };
      let bad = false;
      if (!body.name) { fieldError(form, "name", "Give the connector a name."); bad = true; }
      const changedType = !creating && type !== form.dataset.auth;
      if (type === "api_key") {
        if (v("api_key")) body.auth = { type: "api_key", api_key: v("api_key") };
        else if (creating || changedType) { fieldError(form, "api_key", "Paste a PagerDuty API key."); bad = true; }
      } else {
        const id = v("client_id");
        const secret = v("client_secret");
        if (!id) { fieldError(form, "client_id", "Give the OAuth app's client ID."); bad = true; }
        if (secret) body.auth = { type: "oauth2", client_id: id, client_secret: secret };
        else if (creating || changedType) { fieldError(form, "client_secret", "Paste the OAuth app's client secret."); bad = true; }
        else if (id && id !== form.elements.client_id.defaultValue) {
          fieldError(form, "client_secret", "A new client ID needs its client secret too."); bad = true;
        }
      }
      if (bad) { say(result, "Not saved: see the messages above.", "error"); return; }
      body.base_url = v("base_url") || null;
      body.oauth_base_url = v("oauth_base_url") || null;
      const button = $('button[type="submit"]', form);
      busy(button, true, creating ? "Creating…" : "Saving…");
      const resp = creating
        ? await api("POST", "/connectors", body)
        : await api("PATCH", "/connectors/" + encodeURIComponent(form.dataset.connector), body);
      busy(button, false);
      // Secrets never stay in the page once sent.
      ["api_key", "client_secret"].forEach((n) => { if (form.elements[n]) form.elements[n].value = ""; });
      if (!resp.ok) { showServerError(form, resp.message, result); return; }
      if (creating) {
        window.location.assign("/connectors/" + encodeURIComponent(resp.data.id) + "?created=1");
        return;
      }
      // Reload so the status and the stored-secret hints show what is now saved.
      window.location.assign(location.pathname + "?saved=1");
    });
  }

  // --- Authorization tab: Connect, Sign in with PagerDuty, Remove --------------------------
  const STATUS_LABELS = {
    new: "Not connected", connected: "Connected", error: "Error", needs_authorization: "Needs sign-in",
  };

  // The connection card and the summary show what the store now holds, so nothing on the page
  // disagrees with a reload.
  function showConnector(c) {
    $$("#conn-status .status, #connector-summary .status").forEach((s) => {
      s.className = "status status-" + c.status;
      s.textContent = STATUS_LABELS[c.status] || c.status;
    });
    const acct = $("#conn-account");
    if (acct) acct.textContent = c.subdomain || "—";
    const summary = $("#summary-account");
    if (summary) {
      summary.hidden = !c.subdomain;
      const b = $("b", summary);
      if (b) b.textContent = c.subdomain || "";
    }
  }

  function initConnect() {
    const btn = $("#connect-btn");
    if (btn) {
      btn.addEventListener("click", async () => {
        const out = $("#connect-result");
        const cid = encodeURIComponent(btn.dataset.connector);
        // The last attempt's error is history once a new one starts.
        $("#conn-last-error")?.remove();
        say(out, "Checking the credentials with PagerDuty…", "busy");
        busy(btn, true, "Connecting…");
        const resp = await api("POST", `/connectors/${cid}/connect`);
        const now = await api("GET", `/connectors/${cid}`);
        busy(btn, false);
        if (now.ok) showConnector(now.data);
        if (resp.ok) {
          say(out, `Connected to ${resp.data.account.subdomain}`, "ok");
        } else if (resp.data?.error?.code === "oauth_authorization_required") {
          say(out, "Not signed in with PagerDuty yet: press Sign in with PagerDuty below.", "error");
        } else {
          say(out, resp.message, "error");
        }
      });
    }
    const oauth = $("#oauth-btn");
    if (oauth) {
      oauth.addEventListener("click", async () => {
        const out = $("#oauth-result");
        busy(oauth, true, "Opening PagerDuty…");
        const resp = await api("POST", `/connectors/${encodeURIComponent(oauth.dataset.connector)}/oauth/authorize`);
        if (!resp.ok) { busy(oauth, false); say(out, resp.message, "error"); return; }
        // A one-time link: it redirects to PagerDuty's consent page, which returns here.
        window.location.assign(resp.data.url);
      });
    }
    const del = $("#delete-btn");
    if (del) {
      del.addEventListener("click", async () => {
        if (!window.confirm(`Remove the connector "${del.dataset.name}" and its documents from the index?`)) return;
        busy(del, true, "Removing…");
        const resp = await api("DELETE", `/connectors/${encodeURIComponent(del.dataset.connector)}`);
        busy(del, false);
        if (resp.ok) window.location.assign("/");
        else say($("#delete-result"), resp.message, "error");
      });
    }
    const params = new URLSearchParams(location.search);
    if (params.get("created")) {
      const oauthFirst = $("#oauth-btn") && !btn;
      say($(oauthFirst ? "#oauth-result" : "#connect-result"), oauthFirst
        ? "Connector created. Next: press Sign in with PagerDuty and approve read access."
        : "Connector created. Press Connect to check the credentials.", "ok");
    }
    if (params.get("saved")) say($("#connector-form .form-result"), "Saved.", "ok");
    // One-time notes (?created, ?saved, ?oauth) should not come back on reload.
    if (["created", "saved", "oauth"].some((k) => params.has(k))) {
      history.replaceState(null, "", location.pathname);
    }
  }

  // --- Configuration tab: Sync now, live progress, Cancel, schedule ------------------------
  const PHASES = {
    starting: "Starting", identity: "Reading users and teams", policies: "Reading escalation policies",
    schedules: "Reading schedules", indexing: "Indexing documents", deleting: "Removing deleted documents",
  };

  async function refreshHistory() {
    const box = $("#history");
    if (!box) return;
    try {
      const resp = await fetch(box.dataset.src, { credentials: "same-origin" });
      if (!resp.ok) return;
      // Server-rendered, escaped rows from this service's own template.
      box.innerHTML = await resp.text();
      localize(box);
    } catch (e) { /* the next refresh will try again */ }
  }

  // A long error in the history shows two lines; a click (or Enter) shows it whole.
  function initHistoryErrors() {
    const box = $("#history");
    if (!box) return;
    const toggle = (el) => {
      const open = el.classList.toggle("expanded");
      el.setAttribute("aria-expanded", String(open));
    };
    box.addEventListener("click", (ev) => {
      const el = ev.target.closest(".error-text");
      if (el) toggle(el);
    });
    box.addEventListener("keydown", (ev) => {
      const el = ev.target.closest(".error-text");
      if (el && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); toggle(el); }
    });
  }

  function countsText(c) {
    if (!c) return "";
    return ["added", "updated", "deleted", "unchanged", "failed"].map((k) => `${c[k] || 0} ${k}`).join(" · ");
  }

  function initSync() {
    const card = $("#sync-card");
    if (!card) return;
    const cid = card.dataset.connector;
    const btn = $("#sync-btn");
    const out = $("#sync-result");
    const panel = $("#progress");
    const cancel = $("#cancel-btn");
    let jobId = card.dataset.running || "";
    let timer = null;

    function show(job) {
      const p = job.progress || {};
      $("#progress-phase").textContent = job.status === "queued" ? "Queued" : (PHASES[p.phase] || p.phase || "Starting");
      const total = p.total || 0;
      const done = p.done || 0;
      $("#progress-numbers").textContent = total ? `${done} of ${total}` : (done ? `${done}` : "");
      const fill = $("#progress-fill");
      fill.style.width = total ? Math.min(100, Math.round((100 * done) / total)) + "%" : "8%";
      fill.classList.toggle("indeterminate", !total);
      $("#progress-counts").textContent = countsText(job.counts);
    }

    const STATUS = { succeeded: "Succeeded", failed: "Failed", canceled: "Canceled", skipped: "Skipped" };

    function finished(job) {
      const last = $("#last-sync");
      if (last) {
        last.textContent = "";
        const s = document.createElement("span");
        s.className = "status status-" + job.status;
        s.textContent = STATUS[job.status] || job.status;
        last.appendChild(s);
        last.append(" ");
        if (job.finished_at) last.appendChild(timeEl(job.finished_at));
      }
      panel.hidden = true;
      btn.disabled = false;
      jobId = "";
      const c = job.counts || {};
      if (job.status === "succeeded") {
        say(out, `Sync finished: ${c.added || 0} added, ${c.updated || 0} updated, ${c.deleted || 0} deleted, ${c.unchanged || 0} unchanged, ${c.failed || 0} failed.`, "ok");
      } else if (job.status === "canceled") {
        say(out, "Sync canceled. Nothing was deleted from the index.", "error");
      } else {
        say(out, `Sync ${job.status}${job.error ? ": " + job.error : "."}`, "error");
      }
      refreshHistory();
      api("GET", `/connectors/${encodeURIComponent(cid)}/documents?limit=1`).then((r) => {
        if (r.ok && $("#doc-count")) $("#doc-count").textContent = plural(r.data.total, "document");
      });
    }

    async function poll() {
      if (!jobId) return;
      const resp = await api("GET", "/jobs/" + encodeURIComponent(jobId));
      if (!resp.ok) {
        say(out, resp.message, "error");
        timer = setTimeout(poll, 3000);
        return;
      }
      const job = resp.data;
      if (["succeeded", "failed", "canceled", "skipped"].includes(job.status)) { finished(job); return; }
      show(job);
      timer = setTimeout(poll, 800);
    }

    function follow(id) {
      jobId = id;
      panel.hidden = false;
      btn.disabled = true;
      cancel.disabled = false;
      say(out, "Sync running…", "busy");
      clearTimeout(timer);
      poll();
    }

    btn.addEventListener("click", async () => {
      say(out, "");
      btn.disabled = true;
      const resp = await api("POST", `/connectors/${encodeURIComponent(cid)}/sync`);
      if (resp.ok) { follow(resp.data.job_id); refreshHistory(); return; }
      btn.disabled = false;
      say(out, resp.message, "error");
    });

    cancel.addEventListener("click", async () => {
      if (!jobId) return;
      cancel.disabled = true;
      const resp = await api("POST", `/jobs/${encodeURIComponent(jobId)}/cancel`);
      if (!resp.ok) { cancel.disabled = false; say(out, resp.message, "error"); }
      else say(out, "Canceling…", "busy");
    });

    if (jobId) follow(jobId);

    // A scheduled sync (or one started elsewhere) shows up here too.
    async function watch() {
      if (!jobId && !document.hidden) {
        const resp = await api("GET", `/connectors/${encodeURIComponent(cid)}/jobs?limit=1`);
        const job = resp.ok ? resp.data.data[0] : null;
        const shown = $("#history-table tbody tr");
        if (job && (job.status === "queued" || job.status === "running")) {
          follow(job.id);
          refreshHistory();
        } else if (job && (!shown || shown.dataset.job !== job.id || shown.dataset.status !== job.status
                           || shown.querySelector('.vectors[data-state="computing"]'))) {
          // A finished job whose meaning vectors are still being computed shows them grow.
          refreshHistory();
        }
      }
      setTimeout(watch, 5000);
    }
    setTimeout(watch, 5000);
  }

  // The schedule in words, as nodes: a one-time run's moment is a <time>, shown like "Next run".
  function describeSchedule(s) {
    if (!s) return ["No schedule: syncs run only when started by hand."];
    if (s.interval_minutes) {
      const n = s.interval_minutes;
      if (n === 1) return ["Every minute"];
      if (n === 60) return ["Every hour"];
      if (n === 1440) return ["Every day"];
      if (n % 1440 === 0) return [`Every ${n / 1440} days`];
      if (n % 60 === 0) return [`Every ${n / 60} hours`];
      return [`Every ${n} minutes`];
    }
    if (s.cron) return [`By cron '${s.cron}' (${s.timezone || "UTC"})`];
    if (s.run_at) return ["Once, at ", timeEl(s.run_at)];
    return ["Custom schedule"];
  }

  function pad(n) { return String(n).padStart(2, "0"); }
  function toLocalInput(d) {
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function initSchedule() {
    const form = $("#schedule-form");
    if (!form) return;
    const cid = $("#schedule-card").dataset.connector;
    const runAt = form.elements.run_at;
    if (runAt.dataset.iso) {
      const d = new Date(runAt.dataset.iso);
      if (!isNaN(d)) runAt.value = toLocalInput(d);
    } else {
      const d = new Date(Date.now() + 3600 * 1000);
      d.setMinutes(0, 0, 0);
      runAt.value = toLocalInput(d);
    }
    // Typing in a choice's input selects that choice.
    $$(".choice input:not([type=radio])", form).forEach((input) => {
      input.addEventListener("focus", () => {
        const radio = input.closest(".choice").querySelector("input[type=radio]");
        if (radio) radio.checked = true;
      });
    });
    const err = $("#schedule-error");
    const out = $("#schedule-result");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      say(out, "");
      const kind = $('input[name="kind"]:checked', form).value;
      let body = null;
      if (kind === "interval") {
        const n = Number(form.elements.interval_minutes.value);
        if (!Number.isInteger(n) || n < 1 || n > 525600) { err.textContent = "Give a whole number of minutes from 1 to 525600 (a year)."; err.hidden = false; return; }
        body = { interval_minutes: n };
      } else if (kind === "cron") {
        const c = form.elements.cron.value.trim();
        if (!c) { err.textContent = "Give a cron line of five fields, e.g. 0 3 * * * for 03:00 UTC every day."; err.hidden = false; return; }
        body = { cron: c };
      } else if (kind === "once") {
        const d = new Date(runAt.value);
        if (!runAt.value || isNaN(d)) { err.textContent = "Pick a date and time."; err.hidden = false; return; }
        body = { run_at: d.toISOString() };
      }
      const button = $('button[type="submit"]', form);
      busy(button, true, "Saving…");
      const path = `/connectors/${encodeURIComponent(cid)}/schedule`;
      const resp = body ? await api("PUT", path, body) : await api("DELETE", path);
      busy(button, false);
      if (!resp.ok && !(body === null && resp.status === 404)) {
        err.textContent = resp.message;
        err.hidden = false;
        return;
      }
      say(out, body ? "Schedule saved." : "Schedule removed.", "ok");
      $("#schedule-text").replaceChildren(...describeSchedule(body ? resp.data : null));
      const next = $("#schedule-next");
      next.textContent = "";
      if (body && resp.data.next_run_at) next.appendChild(timeEl(resp.data.next_run_at));
      else next.textContent = "—";
    });
  }

  // --- a permission entity's members -------------------------------------------------------
  function parseEmails(text) {
    return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
  }

  function initEntity() {
    const card = $("#members-card");
    if (!card) return;
    const path = `/connectors/${encodeURIComponent(card.dataset.connector)}/permission-entities/${encodeURIComponent(card.dataset.entity)}`;
    const list = $("#members");
    const err = $("#members-error");
    const out = $("#members-result");

    function render(entity) {
      const manual = new Set(entity.manualUserIds);
      list.textContent = "";
      entity.userIds.forEach((email) => {
        const li = document.createElement("li");
        li.dataset.email = email;
        const span = document.createElement("span");
        span.className = "member-email";
        span.textContent = email;
        li.appendChild(span);
        const badge = document.createElement("span");
        badge.className = manual.has(email) ? "badge badge-manual" : "badge";
        badge.textContent = manual.has(email) ? "added by hand" : "from PagerDuty";
        li.appendChild(badge);
        if (manual.has(email)) {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "btn btn-small btn-danger";
          b.dataset.remove = email;
          b.textContent = "Remove";
          li.appendChild(b);
        }
        list.appendChild(li);
      });
      $("#member-count").textContent = plural(entity.userIds.length, "member");
      $("#members-empty").hidden = entity.userIds.length > 0;
    }

    list.addEventListener("click", async (ev) => {
      const b = ev.target.closest("button[data-remove]");
      if (!b) return;
      const email = b.dataset.remove;
      busy(b, true, "Removing…");
      const resp = await api("DELETE", path, { userList: [email] });
      if (!resp.ok) { busy(b, false); say(out, resp.message, "error"); return; }
      render(resp.data);
      const still = resp.data.userIds.includes(email);
      say(out, still ? `${email} is no longer added by hand, and stays a member through PagerDuty.` : `Removed ${email}.`, "ok");
    });

    $("#add-members-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      say(out, "");
      const emails = parseEmails(ev.target.elements.emails.value);
      if (!emails.length) { err.textContent = "Type at least one e-mail address."; err.hidden = false; return; }
      const wrong = emails.filter((e) => !/^[^@\s]+@[^@\s]+$/.test(e));
      if (wrong.length) { err.textContent = `Not an e-mail address: ${wrong.join(", ")}`; err.hidden = false; return; }
      const button = $('button[type="submit"]', ev.target);
      busy(button, true, "Adding…");
      const resp = await api("PUT", path, { userList: emails });
      busy(button, false);
      if (!resp.ok) { err.textContent = resp.message; err.hidden = false; return; }
      ev.target.elements.emails.value = "";
      render(resp.data);
      say(out, emails.length === 1 ? `Added ${emails[0]}.` : `Added ${emails.length} people.`, "ok");
    });
  }

  // --- search: the demo's user picker searches at once ---------------------------------------
  function initSearch() {
    const picker = $("#demo-user");
    if (picker) picker.addEventListener("change", () => picker.form.submit());
  }

  document.addEventListener("DOMContentLoaded", () => {
    localize(document);
    initCopy();
    initConnectorForm();
    initConnect();
    initSync();
    initHistoryErrors();
    initSchedule();
    initEntity();
    initSearch();
  });
})();
