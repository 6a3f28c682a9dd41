/* scrape-api-docs dashboard: a small script over the service's own REST API and WebSocket.
   No framework, no build step, nothing from another site. Everything the server sends is
   put into the page as text, except the book preview, which the server sanitised with the
   exports' sanitiser (and the page's Content-Security-Policy allows no script in it). */
"use strict";

(() => {
  const KEY_STORE = "scrape-api-docs.api-key";
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);
  const MAIN_OPTIONS = ["max_depth", "max_pages", "rate_limit", "render_javascript", "timeout"];
  const CREDENTIAL_FIELDS = { // [field, input type, label]
    basic: [["username", "text", "Username"], ["password", "password", "Password"]],
    bearer: [["token", "password", "Token"]],
    api_key: [["api_key", "password", "API key"], ["header_name", "text", "Header name (optional)"]],
    cookie: [["cookies", "cookies", "Cookies"]],
  };
  const main = document.getElementById("main");
  let page = { stops: [] }; // the shown page's timers and sockets, ended on navigation

  // --- small helpers ------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") el.textContent = value;
      else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function bytes(n) {
    if (n === null || n === undefined) return "";
    const units = ["bytes", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return i === 0 ? `${n} bytes` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
  }

  function seconds(s) {
    if (s === null || s === undefined) return "";
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
  }

  function percent(x) { return `${Math.round(x * 10) / 10}%`; }

  function every(ms, fn) {
    const id = setInterval(() => { if (!document.hidden) fn(); }, ms);
    page.stops.push(() => clearInterval(id));
  }

  function later(ms, fn) {
    const id = setTimeout(fn, ms);
    page.stops.push(() => clearTimeout(id));
    return id;
  }

  // --- the API ------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || {};
    }
  }

  function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

  function authHeaders() {
    const key = apiKey();
    return key ? { "X-API-Key": key } : {};
  }

  /* JSON in, JSON out; an error answer becomes an ApiError carrying the envelope's message.
     ``accept``: statuses whose body is the answer even though they are errors (health: 503). */
  async function api(path, { method = "GET", body, accept = [] } = {}) {
    const headers = { Accept: "application/json", ...authHeaders() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method, headers, cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      connection.lost();
      throw new ApiError(0, "NETWORK", "The server cannot be reached (stopped, or the network is down).");
    }
    connection.ok();
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
    if (response.ok || accept.includes(response.status)) return data;
    const envelope = data && data.error;
    let message = envelope && envelope.message
      ? envelope.message
      : `The server answered ${response.status} ${response.statusText}`.trim();
    if (response.status === 401) message += ". Enter your API key at the top of the page.";
    throw new ApiError(response.status, envelope ? envelope.code : "HTTP_" + response.status,
      message, envelope ? envelope.details : {});
  }

  function errorBox(err) {
    const box = h("div", { class: "error", role: "alert" },
      h("p", { text: err instanceof ApiError || err instanceof Error ? err.message : String(err) }));
    const problems = err && err.details && Array.isArray(err.details.errors) ? err.details.errors : [];
    if (problems.length > 1) {
      box.append(h("ul", {}, problems.map((p) => h("li", { text: p.message || p.field }))));
    }
    return box;
  }

  let schemaPromise = null;
  function openapi() {
    if (!schemaPromise) {
      schemaPromise = api("/api/openapi.json").catch((err) => { schemaPromise = null; throw err; });
    }
    return schemaPromise;
  }

  function resolve(schema, node) {
    let out = node || {};
    while (out && out.$ref) {
      const { $ref, ...rest } = out;
      out = { ...schema.components.schemas[$ref.split("/").pop()], ...rest };
    }
    return out;
  }

  // --- connection: lost, retried with backoff, restored ------------------------------------
  const connection = {
    down: false,
    attempt: 0,
    timer: null,
    banner: document.getElementById("connection"),
    lost() {
      if (this.down) return;
      this.down = true;
      this.attempt = 0;
      this.retry();
    },
    retry() {
      const wait = Math.min(5, 2 ** this.attempt); // a health request every 5 s at most
      this.attempt += 1;
      this.say(`Lost the connection to the server. Trying again in ${wait} s…`, "down");
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.probe(), wait * 1000);
    },
    async probe() {
      try {
        await fetch("/api/v1/system/health", { cache: "no-store", headers: authHeaders() });
      } catch (err) {
        this.retry();
        return;
      }
      this.ok();
      render();
    },
    ok() {
      if (!this.down) return;
      this.down = false;
      clearTimeout(this.timer);
      this.say("Connection restored.", "up");
      this.timer = setTimeout(() => { this.banner.hidden = true; }, 4000);
    },
    say(text, state) {
      this.banner.textContent = text;
      this.banner.dataset.state = state;
      this.banner.hidden = false;
    },
  };

  // --- the API key ----------------------------------------------------------------------------
  function setupKey() {
    const form = document.getElementById("key-form");
    const input = document.getElementById("api-key");
    const clear = document.getElementById("key-clear");
    const state = document.getElementById("key-state");
    const show = () => {
      const has = Boolean(apiKey());
      clear.hidden = !has;
      input.value = "";
      input.placeholder = has ? "key in use (this tab)" : "optional on localhost";
      state.textContent = has ? "Key in use." : "";
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) { input.focus(); return; }
      sessionStorage.setItem(KEY_STORE, value);
      show();
      render();
    });
    clear.addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORE);
      show();
      render();
    });
    show();
  }

  // --- routing ----------------------------------------------------------------------------------
  function route() {
    const hash = location.hash.replace(/^#\/?/, "") || "submit";
    const [path, query] = hash.split("?");
    return { parts: path.split("/").filter(Boolean), query: new URLSearchParams(query || "") };
  }

  async function render() {
    for (const stop of page.stops) stop();
    page = { stops: [] };
    const current = page;
    const { parts, query } = route();
    const name = parts[0] || "submit";
    for (const link of document.querySelectorAll("nav a[data-page]")) {
      if (link.dataset.page === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const view = h("div", { class: "page" });
    main.replaceChildren(view);
    const pages = { submit: pageSubmit, jobs: parts[1] ? pageJob : pageJobs,
      credentials: pageCredentials, system: pageSystem };
    const show = pages[name] || pageNotFound;
    try {
      await show(view, parts, query, current);
    } catch (err) {
      if (current === page) view.append(errorBox(err));
    }
  }

  function heading(view, text) {
    const h1 = h("h1", { tabindex: "-1", text });
    view.append(h1);
    document.title = `${text} · scrape-api-docs`;
    if (document.activeElement === document.body || main.contains(document.activeElement) ||
        document.activeElement === main) {
      h1.focus({ preventScroll: true });
    }
    return h1;
  }

  function pageNotFound(view) {
    heading(view, "Page not found");
    view.append(h("p", {}, "There is no such page. ", h("a", { href: "#/jobs", text: "See the jobs" }), "."));
  }

  // --- Submit -------------------------------------------------------------------------------
  function optionKind(prop) {
    const variants = prop.anyOf || [prop];
    const types = variants.map((v) => v.type);
    if (variants.some((v) => v.const !== undefined)) return "choice";
    if (types.includes("array")) return "list";
    if (types.includes("boolean")) return "boolean";
    if (types.includes("integer")) return "integer";
    if (types.includes("number")) return "number";
    return "text";
  }

  function bounds(prop) {
    const v = (prop.anyOf || [prop]).find((x) => x.minimum !== undefined || x.maximum !== undefined) || prop;
    return { min: v.minimum, max: v.maximum };
  }

  function optionField(name, prop) {
    const id = `opt-${name}`;
    const kind = optionKind(prop);
    const label = prop.title || name;
    const hints = [];
    if (prop.description) hints.push(prop.description);
    if (prop.default !== undefined && prop.default !== null) hints.push(`Default: ${JSON.stringify(prop.default)}.`);
    const { min, max } = bounds(prop);
    if (min !== undefined && max !== undefined) hints.push(`From ${min} to ${max}.`);
    else if (min !== undefined) hints.push(`At least ${min}.`);
    const hint = h("small", { id: `${id}-hint`, class: "hint", text: hints.join(" ") });
    let input;
    if (kind === "boolean") {
      input = h("input", { id, name, type: "checkbox", checked: prop.default === true, "aria-describedby": `${id}-hint` });
      return h("div", { class: "field check" }, input, h("label", { for: id, text: label }), hint);
    }
    if (kind === "choice") {
      const values = [];
      for (const v of prop.anyOf) {
        if (v.type === "boolean") values.push(false, true);
        else if (v.const !== undefined) values.push(v.const);
      }
      input = h("select", { id, name, "aria-describedby": `${id}-hint` },
        values.map((v) => h("option", { value: JSON.stringify(v), selected: v === prop.default, text: String(v) })));
    } else if (kind === "integer" || kind === "number") {
      input = h("input", {
        id, name, type: "number", inputmode: kind === "integer" ? "numeric" : "decimal",
        min, max, step: kind === "integer" ? "1" : "any",
        value: prop.default ?? "", "aria-describedby": `${id}-hint`,
      });
    } else if (kind === "list") {
      input = h("textarea", { id, name, rows: "2", placeholder: "one per line", "aria-describedby": `${id}-hint` });
    } else {
      input = h("input", { id, name, type: "text", "aria-describedby": `${id}-hint` });
    }
    input.dataset.kind = kind;
    return h("div", { class: "field" }, h("label", { for: id, text: label }), input, hint);
  }

  function readOptions(form, props) {
    const options = {};
    for (const name of Object.keys(props)) {
      const input = form.elements[name];
      if (!input) continue;
      const kind = input.dataset.kind;
      if (kind === "boolean") options[name] = input.checked;
      else if (kind === "choice") options[name] = JSON.parse(input.value);
      else if (kind === "integer" || kind === "number") {
        if (input.value !== "") options[name] = Number(input.value);
      } else if (kind === "list") {
        const lines = input.value.split("\n").map((s) => s.trim()).filter(Boolean);
        if (lines.length) options[name] = lines;
      } else if (input.value.trim()) options[name] = input.value.trim();
    }
    return options;
  }

  async function pageSubmit(view) {
    heading(view, "Submit a crawl");
    const schema = await openapi();
    const request = resolve(schema, schema.components.schemas.ScrapeRequest);
    const props = resolve(schema, request.properties.options).properties;
    const formats = request.properties.export_formats;
    const chosen = new Set(formats.default || []);
    const priority = resolve(schema, request.properties.priority);
    const result = h("div", { class: "result", role: "status", "aria-live": "polite" });

    const mainFields = MAIN_OPTIONS.filter((n) => props[n]).map((n) => optionField(n, props[n]));
    const moreFields = Object.keys(props).filter((n) => !MAIN_OPTIONS.includes(n)).map((n) => optionField(n, props[n]));
    const form = h("form", { class: "submit", novalidate: true },
      h("div", { class: "field wide" },
        h("label", { for: "url", text: "Start URL" }),
        h("input", { id: "url", name: "url", type: "url", required: true, placeholder: "https://docs.example.com/", "aria-describedby": "url-hint" }),
        h("small", { id: "url-hint", class: "hint", text: "The crawl stays on this site and below this path unless patterns say otherwise." })),
      h("fieldset", {}, h("legend", { text: "Options" }), h("div", { class: "grid" }, mainFields)),
      h("details", {}, h("summary", { text: "More options" }), h("div", { class: "grid" }, moreFields)),
      h("fieldset", {}, h("legend", { text: "Export formats" }),
        h("div", { class: "formats" }, formats.items.enum.map((f) => h("div", { class: "check" },
          h("input", { type: "checkbox", id: `fmt-${f}`, name: "format", value: f, checked: chosen.has(f) }),
          h("label", { for: `fmt-${f}`, text: f }))))),
      h("div", { class: "field" },
        h("label", { for: "priority", text: "Priority" }),
        h("select", { id: "priority", name: "priority" }, priority.enum.map((p) =>
          h("option", { value: p, selected: p === request.properties.priority.default, text: p })))),
      h("div", { class: "actions" },
        h("button", { type: "button", id: "validate", class: "secondary", text: "Validate first" }),
        h("button", { type: "submit", id: "start", text: "Start crawl" })),
    );
    view.append(form, result);

    const body = () => ({ url: form.elements.url.value.trim(), options: readOptions(form, props) });
    const busy = (on) => { for (const b of form.querySelectorAll("button")) b.disabled = on; };

    form.querySelector("#validate").addEventListener("click", async () => {
      result.replaceChildren(h("p", { text: "Checking the site…" }));
      busy(true);
      try {
        const answer = await api("/api/v1/scrape/validate", { method: "POST", body: body() });
        result.replaceChildren(validation(answer, form));
      } catch (err) {
        result.replaceChildren(errorBox(err));
      } finally { busy(false); }
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const payload = body();
      payload.export_formats = [...form.querySelectorAll("input[name=format]:checked")].map((i) => i.value);
      payload.priority = form.elements.priority.value;
      result.replaceChildren(h("p", { text: "Submitting…" }));
      busy(true);
      try {
        const job = await api("/api/v1/scrape", { method: "POST", body: payload });
        location.hash = `#/jobs/${encodeURIComponent(job.job_id)}`;
      } catch (err) {
        result.replaceChildren(errorBox(err));
        busy(false);
      }
    });
  }

  function validation(answer, form) {
    const box = h("section", { class: "validation", "aria-label": "Validation" });
    box.append(h("h2", { text: answer.valid ? "The site can be crawled" : "The site cannot be crawled as asked" }));
    const facts = h("dl", { class: "facts" });
    const fact = (k, v) => { if (v !== null && v !== undefined && v !== "") facts.append(h("dt", { text: k }), h("dd", { text: v })); };
    fact("Estimated pages", answer.estimated_pages);
    fact("Estimated duration", seconds(answer.estimated_duration));
    for (const [k, v] of Object.entries(answer.details || {})) fact(k.replaceAll("_", " "), typeof v === "object" ? JSON.stringify(v) : v);
    box.append(facts);
    if (answer.warnings && answer.warnings.length) {
      box.append(h("h3", { text: "Warnings" }), h("ul", { class: "warnings" }, answer.warnings.map((w) => h("li", { text: w }))));
    } else box.append(h("p", { text: "No warnings." }));
    const recs = Object.entries(answer.recommendations || {});
    if (recs.length) {
      box.append(h("h3", { text: "Recommendations" }),
        h("ul", {}, recs.map(([k, v]) => h("li", { text: `${k}: ${JSON.stringify(v)}` }))),
        h("button", { type: "button", class: "secondary", text: "Apply recommendations", onclick: () => {
          for (const [k, v] of recs) {
            const input = form.elements[k];
            if (!input) continue;
            if (input.type === "checkbox") input.checked = Boolean(v);
            else if (input.tagName === "SELECT") input.value = JSON.stringify(v);
            else input.value = Array.isArray(v) ? v.join("\n") : v;
          }
        } }));
    }
    return box;
  }

  // --- Jobs -----------------------------------------------------------------------------------
  function statusBadge(status) { return h("span", { class: `badge ${status}`, text: status }); }

  async function pageJobs(view, parts, query, current) {
    heading(view, "Jobs");
    const schema = await openapi();
    const params = Object.fromEntries(schema.paths["/api/v1/jobs"].get.parameters.map((p) => [p.name, p.schema]));
    const choices = (p) => { const s = p.anyOf ? p.anyOf.find((x) => x.enum) : p; return s && s.enum ? s.enum : []; };
    const state = {
      status: query.get("status") || "",
      sort: query.get("sort") || params.sort.default,
      order: query.get("order") || params.order.default,
      limit: Number(query.get("limit") || params.limit.default),
      offset: Number(query.get("offset") || 0),
    };
    const go = (changes) => {
      const next = { ...state, ...changes };
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(next)) if (v !== "" && v !== null) q.set(k, v);
      location.hash = `#/jobs?${q}`;
    };
    const select = (id, label, options, value, key) => h("div", { class: "field" },
      h("label", { for: id, text: label }),
      h("select", { id, onchange: (e) => go({ [key]: e.target.value, offset: 0 }) },
        options.map(([v, text]) => h("option", { value: v, selected: String(v) === String(value), text }))));
    view.append(h("div", { class: "filters" },
      select("f-status", "Status", [["", "all"], ...choices(params.status).map((s) => [s, s])], state.status, "status"),
      select("f-sort", "Sort by", choices(params.sort).map((s) => [s, s.replace("_", " ")]), state.sort, "sort"),
      select("f-order", "Order", [["desc", "newest / longest first"], ["asc", "oldest / shortest first"]], state.order, "order"),
      select("f-limit", "Per page", [10, 20, 50, 100].map((n) => [n, String(n)]), state.limit, "limit")));
    const table = h("div", { class: "table-wrap" });
    const pager = h("nav", { class: "pager", "aria-label": "Pages of jobs" });
    const updated = h("p", { class: "muted small" });
    const problem = h("div");
    view.append(table, pager, updated, problem);

    let shown = "";
    const refresh = async () => {
      const q = new URLSearchParams({ sort: state.sort, order: state.order, limit: state.limit, offset: state.offset });
      if (state.status) q.set("status", state.status);
      let data;
      try {
        data = await api(`/api/v1/jobs?${q}`);
      } catch (err) {
        if (current === page) problem.replaceChildren(errorBox(err));
        return;
      }
      if (current !== page) return;
      problem.replaceChildren();
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every 3 s.`;
      const seen = JSON.stringify(data);
      if (seen === shown) return; // unchanged: keep the table (and the focus in it)
      shown = seen;
      table.replaceChildren(jobsTable(data.jobs));
      const { total, offset, limit, has_more: more } = data.pagination;
      const first = total ? offset + 1 : 0;
      pager.replaceChildren(
        h("button", { type: "button", class: "secondary", disabled: offset === 0, text: "Previous", onclick: () => go({ offset: Math.max(0, offset - limit) }) }),
        h("span", { text: `${first}–${offset + data.jobs.length} of ${total}` }),
        h("button", { type: "button", class: "secondary", disabled: !more, text: "Next", onclick: () => go({ offset: offset + limit }) }));
    };
    await refresh();
    every(3000, refresh);
  }

  function jobsTable(jobs) {
    if (!jobs.length) return h("p", {}, "No jobs here yet. ", h("a", { href: "#/submit", text: "Submit a crawl" }), ".");
    return h("table", { class: "jobs" },
      h("caption", { class: "sr-only", text: "Jobs" }),
      h("thead", {}, h("tr", {}, ["Site", "Status", "Pages", "Created", "Duration", "Exports"].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, jobs.map((j) => h("tr", {},
        h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(j.job_id)}`, text: j.url }), h("br"), h("small", { class: "muted", text: j.job_id })),
        h("td", {}, statusBadge(j.status)),
        h("td", { class: "num", text: j.pages_scraped }),
        h("td", { text: when(j.created_at) }),
        h("td", { text: seconds(j.duration) }),
        h("td", { text: j.exports_available.join(", ") })))));
  }

  // --- A job ----------------------------------------------------------------------------------
  async function pageJob(view, parts, query, current) {
    const jobId = decodeURIComponent(parts[1]);
    heading(view, `Job ${jobId}`);
    let job = await api(`/api/v1/jobs/${encodeURIComponent(jobId)}`);
    if (current !== page) return;

    const source = h("p", { class: "source" }, "Crawling ", h("a", { href: job.url, rel: "noreferrer noopener", target: "_blank", text: job.url }));
    const badge = h("span");
    const stream = h("span", { class: "muted small", role: "status" });
    const bar = h("progress", { id: "progress", max: "100", value: "0", "aria-describedby": "progress-text" });
    const barText = h("p", { id: "progress-text", class: "progress-text" });
    const spoken = h("p", { class: "sr-only", role: "status", "aria-live": "polite" });
    const facts = h("dl", { class: "facts" });
    const actions = h("div", { class: "actions" });
    const message = h("div", { role: "status", "aria-live": "polite" });
    const exports = h("section", { "aria-labelledby": "exports-h" }, h("h2", { id: "exports-h", text: "Downloads" }));
    const exportList = h("div", { class: "downloads" });
    exports.append(exportList);
    const previewBox = h("section", { "aria-labelledby": "preview-h" }, h("h2", { id: "preview-h", text: "Preview of the Markdown book" }));
    const preview = h("div");
    previewBox.append(preview);
    const logs = h("ol", { class: "log", role: "log", "aria-live": "off", "aria-label": "Log", tabindex: "0" });
    view.append(
      h("div", { class: "job-head" }, source, h("p", {}, badge, " ", stream)),
      h("section", { class: "progress", "aria-label": "Progress" }, h("label", { for: "progress", class: "sr-only", text: "Progress" }), bar, barText, spoken),
      facts, actions, message, exports, previewBox,
      h("section", { "aria-labelledby": "log-h" }, h("h2", { id: "log-h", text: "Log" }), logs));

    let lastSpoken = -100;
    let lastStatus = null;
    let previewShown = false;
    const setProgress = (status, progress) => {
      const pct = status === "completed" ? 100 : (progress ? progress.percent_complete : 0);
      bar.value = pct;
      bar.textContent = percent(pct);
      const pages = progress && progress.total_pages ? `${progress.current_page} of ${progress.total_pages} pages` : "";
      barText.textContent = [percent(pct), pages, progress && progress.current_operation].filter(Boolean).join(" · ");
      if (status !== lastStatus || pct - lastSpoken >= 10) {
        spoken.textContent = `${status}, ${percent(pct)}${pages ? ", " + pages : ""}`;
        lastSpoken = pct;
      }
      badge.replaceChildren(statusBadge(status));
      lastStatus = status;
    };

    // The tail: lines from the job's detail and from the WebSocket, each once, in order.
    const seen = new Map();
    const addLog = (...entries) => {
      let added = false;
      // (the same line can come with its time at different precisions: whole seconds)
      const keyOf = (e) => `${Math.floor(Date.parse(e.timestamp) / 1000)}|${e.level}|${e.message}`;
      for (const entry of entries) {
        const key = keyOf(entry);
        if (!seen.has(key)) { seen.set(key, entry); added = true; }
      }
      if (!added) return;
      const tail = [...seen.values()].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp)).slice(-300);
      if (seen.size > 600) { seen.clear(); for (const e of tail) seen.set(keyOf(e), e); }
      const follow = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 8;
      logs.replaceChildren(...tail.map((e) => h("li", { class: `lvl-${e.level}` },
        h("time", { datetime: e.timestamp, text: new Date(e.timestamp).toLocaleTimeString() }), " ",
        h("span", { class: "level", text: e.level }), " ", e.message)));
      if (follow) logs.scrollTop = logs.scrollHeight;
    };

    const showDetail = (detail) => {
      job = detail;
      setProgress(job.status, job.progress);
      const s = job.statistics;
      const looked = s.cache_hits + s.cache_misses;
      facts.replaceChildren();
      const fact = (k, v) => { if (v !== null && v !== undefined && v !== "") facts.append(h("div", {}, h("dt", { text: k }), h("dd", { text: v }))); };
      fact("Pages done", s.pages_processed);
      fact("Pages discovered", s.pages_discovered);
      fact("Current operation", job.progress && !TERMINAL.has(job.status) ? job.progress.current_operation : "");
      fact("Cache hit rate", looked ? `${Math.round((100 * s.cache_hits) / looked)}% (${s.cache_hits} of ${looked})` : "no cache lookups yet");
      fact("Errors", s.errors);
      fact("Skipped", s.pages_skipped ? `${s.pages_skipped} (${Object.entries(s.skipped_reasons).map(([r, n]) => `${r}: ${n}`).join(", ")})` : "");
      fact("Priority", job.priority);
      fact("Created", when(job.created_at));
      fact("Time left", TERMINAL.has(job.status) ? "" : seconds(job.estimated_duration));
      fact("Duration", seconds(job.duration));
      if (job.error_message) fact("Error", job.error_message);
      addLog(...(job.logs || []));
      showActions();
      showExports(job.exports || []);
    };

    const showActions = () => {
      if (TERMINAL.has(job.status)) {
        const del = h("button", { type: "button", class: "danger", text: "Delete job" });
        del.addEventListener("click", async () => {
          if (del.dataset.armed !== "1") { del.dataset.armed = "1"; del.textContent = "Click again to delete the job and its files"; return; }
          try {
            await api(`/api/v1/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" });
            location.hash = "#/jobs";
          } catch (err) { message.replaceChildren(errorBox(err)); }
        });
        actions.replaceChildren(del);
      } else {
        actions.replaceChildren(h("button", { type: "button", class: "danger", id: "cancel", text: "Cancel job", onclick: async (e) => {
          e.target.disabled = true;
          try {
            const answer = await api(`/api/v1/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" });
            message.replaceChildren(h("p", { text: answer.message }));
            await refresh();
          } catch (err) { message.replaceChildren(errorBox(err)); e.target.disabled = false; }
        } }));
      }
    };

    const showExports = (list) => {
      if (!list.length) {
        exportList.replaceChildren(h("p", { class: "muted", text: TERMINAL.has(job.status) ? "This job has no files." : "Files appear here when the crawl ends." }));
      } else exportList.replaceChildren(...list.map(downloadButton));
      const book = list.find((e) => e.format === "markdown");
      previewBox.hidden = !book;
      if (book && !previewShown) { previewShown = true; loadPreview(); }
    };

    const loadPreview = async () => {
      preview.replaceChildren(h("p", { text: "Loading the preview…" }));
      try {
        const answer = await api(`/api/v1/exports/${encodeURIComponent(jobId)}/preview`);
        const body = h("div", { class: "preview", tabindex: "0", "aria-label": "Book preview" });
        body.innerHTML = answer.html; // sanitised by the server (the exports' sanitiser)
        preview.replaceChildren(body);
        if (answer.truncated) preview.append(h("p", { class: "muted", text: `The beginning of ${answer.filename} (${bytes(answer.size_bytes)} in all): download it for the rest.` }));
      } catch (err) {
        previewShown = false;
        preview.replaceChildren(errorBox(err));
      }
    };

    let lastRefresh = 0;
    const refresh = async () => {
      lastRefresh = Date.now();
      const detail = await api(`/api/v1/jobs/${encodeURIComponent(jobId)}`);
      if (current === page) showDetail(detail);
      return detail;
    };

    showDetail(job);
    if (TERMINAL.has(job.status)) { stream.textContent = ""; return; }

    // Live: the WebSocket; while it is down, polling (and reconnecting with backoff).
    let socket = null;
    let attempt = 0;
    let poller = null;
    let ended = false;
    const startPolling = () => {
      if (poller) return;
      poller = setInterval(async () => {
        try {
          const detail = await refresh();
          if (TERMINAL.has(detail.status)) { finish(); }
        } catch (err) { /* the connection banner says it */ }
      }, 2000);
    };
    const stopPolling = () => { clearInterval(poller); poller = null; };
    const finish = () => {
      ended = true;
      stopPolling();
      stream.textContent = "";
      if (socket) socket.close();
    };
    page.stops.push(() => { ended = true; stopPolling(); if (socket) socket.close(); });

    const connect = () => {
      if (ended || current !== page) return;
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const key = apiKey();
      const url = `${scheme}//${location.host}/api/v1/jobs/${encodeURIComponent(jobId)}/stream` +
        (key ? `?api_key=${encodeURIComponent(key)}` : "");
      const ws = new WebSocket(url);
      socket = ws;
      ws.addEventListener("open", () => {
        attempt = 0;
        stopPolling();
        connection.ok();
        stream.textContent = "live";
        refresh().catch(() => {}); // what happened before the socket was open
      });
      ws.addEventListener("message", (event) => {
        let msg;
        try { msg = JSON.parse(event.data); } catch (err) { return; }
        if (msg.type === "progress") {
          setProgress(msg.data.status, msg.data);
          if (Date.now() - lastRefresh > 1500) refresh().catch(() => {});
        } else if (msg.type === "log") addLog(msg.data);
        else if (msg.type === "complete") {
          refresh().catch(() => {});
          finish();
        }
      });
      ws.addEventListener("close", (event) => {
        if (ended || current !== page) return;
        if (event.code === 4404 || event.code === 4401) {
          message.replaceChildren(errorBox(new Error(event.code === 4401
            ? "Live updates need a valid API key: enter it at the top of the page."
            : `Job ${jobId} is gone.`)));
          stream.textContent = "";
          return;
        }
        startPolling();
        const wait = Math.min(15, 2 ** attempt) * (0.8 + Math.random() * 0.4);
        attempt += 1;
        stream.textContent = `live updates interrupted; reconnecting in ${Math.round(wait)} s (polling meanwhile)`;
        later(wait * 1000, connect);
      });
    };
    connect();
  }

  function downloadButton(exp) {
    const label = `Download ${exp.filename} (${bytes(exp.size_bytes)})`;
    if (!apiKey()) return h("a", { class: "button", href: exp.url, download: exp.filename, text: label });
    // With a key the header must be sent: fetch the file, then save it from memory.
    const button = h("button", { type: "button", text: label });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const response = await fetch(exp.url, { headers: authHeaders() });
        if (!response.ok) {
          let msg = `The download failed (${response.status})`;
          try { msg = (await response.json()).error.message; } catch (err) { /* not JSON */ }
          throw new Error(msg);
        }
        const url = URL.createObjectURL(await response.blob());
        const link = h("a", { href: url, download: exp.filename });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      } catch (err) {
        button.after(errorBox(err));
      } finally { button.disabled = false; }
    });
    return button;
  }

  // --- Credentials ------------------------------------------------------------------------------
  async function pageCredentials(view, parts, query, current) {
    heading(view, "Credentials");
    view.append(h("p", { class: "muted", text: "Logins for private documentation sites, used by crawls of that domain. Secrets are stored encrypted and never shown again." }));
    const schema = await openapi();
    const types = resolve(schema, schema.components.schemas.CredentialRequest.properties.auth_type).enum.filter((t) => CREDENTIAL_FIELDS[t]);
    const list = h("div", { class: "table-wrap" });
    const result = h("div", { role: "status", "aria-live": "polite" });
    const secretFields = h("div", { class: "grid" });
    const form = h("form", { class: "credential", autocomplete: "off" },
      h("h2", { text: "Add a credential" }),
      h("div", { class: "grid" },
        h("div", { class: "field" }, h("label", { for: "c-domain", text: "Domain" }),
          h("input", { id: "c-domain", name: "domain", required: true, placeholder: "docs.example.com", "aria-describedby": "c-domain-hint" }),
          h("small", { id: "c-domain-hint", class: "hint", text: "Host name, optionally with :port." })),
        h("div", { class: "field" }, h("label", { for: "c-type", text: "Type" }),
          h("select", { id: "c-type", name: "auth_type" }, types.map((t) => h("option", { value: t, text: t })))),
        h("div", { class: "field" }, h("label", { for: "c-expires", text: "Expires (optional)" }),
          h("input", { id: "c-expires", name: "expires_at", type: "datetime-local" }))),
      secretFields,
      h("div", { class: "actions" }, h("button", { type: "submit", text: "Add credential" })));
    const showFields = () => {
      secretFields.replaceChildren(...CREDENTIAL_FIELDS[form.elements.auth_type.value].map(([name, kind, label]) => {
        const id = `c-${name}`;
        const input = kind === "cookies"
          ? h("textarea", { id, name, rows: "3", placeholder: "name=value, one per line", required: true })
          : h("input", { id, name, type: kind, required: name !== "header_name" && name !== "password", autocomplete: "off", spellcheck: "false" });
        return h("div", { class: "field" }, h("label", { for: id, text: label }), input);
      }));
    };
    form.elements.auth_type.addEventListener("change", showFields);
    showFields();
    view.append(h("h2", { text: "Stored" }), list, form, result);

    const load = async () => {
      const data = await api("/api/v1/auth/credentials");
      if (current !== page) return;
      if (!data.credentials.length) { list.replaceChildren(h("p", { class: "muted", text: "No credentials stored." })); return; }
      list.replaceChildren(h("table", {},
        h("thead", {}, h("tr", {}, ["Domain", "Type", "Created", "Expires", ""].map((c) => h("th", { scope: "col", text: c })))),
        h("tbody", {}, data.credentials.map((c) => h("tr", {},
          h("td", { text: c.domain }), h("td", { text: c.auth_type }), h("td", { text: when(c.created_at) }),
          h("td", { text: c.expires_at ? when(c.expires_at) : "never" }),
          h("td", {}, h("button", { type: "button", class: "danger small", "aria-label": `Delete the credential for ${c.domain}`, text: "Delete", onclick: async () => {
            try {
              await api(`/api/v1/auth/credentials/${encodeURIComponent(c.credential_id)}`, { method: "DELETE" });
              result.replaceChildren(h("p", { text: `Deleted the credential for ${c.domain}.` }));
              await load();
            } catch (err) { result.replaceChildren(errorBox(err)); }
          } })))))));
    };

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const type = form.elements.auth_type.value;
      const credentials = {};
      for (const [name, kind] of CREDENTIAL_FIELDS[type]) {
        const value = form.elements[name].value;
        if (kind === "cookies") {
          credentials.cookies = Object.fromEntries(value.split("\n").map((l) => l.trim()).filter(Boolean)
            .map((l) => { const i = l.indexOf("="); return i < 0 ? [l, ""] : [l.slice(0, i).trim(), l.slice(i + 1).trim()]; }));
        } else if (value) credentials[name] = value;
      }
      const expires = form.elements.expires_at.value;
      const body = { domain: form.elements.domain.value.trim(), auth_type: type, credentials };
      if (expires) body.expires_at = new Date(expires).toISOString();
      try {
        const made = await api("/api/v1/auth/credentials", { method: "POST", body });
        form.reset();
        showFields();
        result.replaceChildren(h("p", { text: `Stored a ${made.auth_type} credential for ${made.domain}.` }));
        await load();
      } catch (err) { result.replaceChildren(errorBox(err)); }
    });
    await load();
  }

  // --- System ---------------------------------------------------------------------------------
  async function pageSystem(view, parts, query, current) {
    heading(view, "System");
    const body = h("div", { class: "system" });
    const updated = h("p", { class: "muted small" });
    view.append(body, updated);
    const load = async () => {
      const [health, stats] = await Promise.all([
        api("/api/v1/system/health", { accept: [503] }),
        api("/api/v1/system/stats"),
      ]);
      if (current !== page) return;
      const label = (k) => k.replace(/_(mb|gb)$/, "").replaceAll("_", " ");
      const rows = (obj, fmt) => Object.entries(obj).map(([k, v]) => h("div", {}, h("dt", { text: label(k) }), h("dd", { text: fmt ? fmt(k, v) : String(v) })));
      const details = health.details || {};
      body.replaceChildren(
        h("section", { "aria-labelledby": "health-h" },
          h("h2", { id: "health-h" }, "Health ", statusBadge(health.status)),
          h("dl", { class: "facts" }, rows({ version: health.version, uptime: seconds(health.uptime) })),
          h("table", {},
            h("thead", {}, h("tr", {}, ["Part", "State", "Details"].map((c) => h("th", { scope: "col", text: c })))),
            h("tbody", {}, Object.entries(health.dependencies).map(([k, v]) => h("tr", {},
              h("td", { text: k }), h("td", {}, statusBadge(v)), h("td", { text: details[k] || "" })))))),
        h("section", { "aria-labelledby": "jobs-h" }, h("h2", { id: "jobs-h", text: "Jobs" }), h("dl", { class: "facts" }, rows(stats.jobs))),
        h("section", { "aria-labelledby": "perf-h" }, h("h2", { id: "perf-h", text: "Performance" }),
          h("dl", { class: "facts" }, rows(stats.performance, (k, v) => {
            if (v === null || v === undefined) return "";
            if (k === "cache_hit_rate") return `${Math.round(v * 100)}%`;
            if (k.includes("time") || k.includes("duration")) return seconds(v);
            return String(Math.round(v * 10) / 10);
          }))),
        h("section", { "aria-labelledby": "res-h" }, h("h2", { id: "res-h", text: "Resources" }),
          h("dl", { class: "facts" }, rows(stats.resources, (k, v) => {
            if (k.endsWith("_mb")) return bytes(Math.round(v * 1024 * 1024));
            if (k.endsWith("_gb")) return bytes(Math.round(v * 1024 ** 3));
            return String(v);
          }))));
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every 10 s.`;
    };
    await load();
    every(10000, () => load().catch((err) => { if (current === page) updated.replaceChildren(errorBox(err)); }));
  }

  setupKey();
  window.addEventListener("hashchange", render);
  render();
})();
