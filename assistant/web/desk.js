// The newsroom desk: check a claim or a paragraph against the archive (POST /v1/check), show the
// verdict, corroboration and every quoted piece of evidence, and export the check.
// Text from sources is only ever set with textContent. Plain ES2020, no dependencies.
(() => {
  "use strict";

  const API = new URL("./", document.baseURI).href;
  const KEY_STORE = "assistant-desk:key";
  const MAX_CLAIM = 1000;
  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $("form"), input: $("input"), check: $("check"), detected: $("detected"),
    status: $("status"), announce: $("announce"), results: $("results"), toast: $("toast"),
    keybox: $("keybox"), key: $("key"),
  };

  // ------------------------------------------------------------ small helpers
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  };
  const svg = (paths) => {
    const NS = "http://www.w3.org/2000/svg";
    const s = document.createElementNS(NS, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    for (const d of paths) {
      const p = document.createElementNS(NS, "path");
      p.setAttribute("d", d);
      s.appendChild(p);
    }
    return s;
  };
  const ICONS = {
    supported: ["M5 12.5l4.5 4.5L19 7.5"],
    supports: ["M5 12.5l4.5 4.5L19 7.5"],
    refuted: ["M6.5 6.5l11 11M17.5 6.5l-11 11"],
    refutes: ["M6.5 6.5l11 11M17.5 6.5l-11 11"],
    conflicting: ["M12 5v9", "M12 18.5v.5"],
    not_enough_info: ["M9 9a3 3 0 1 1 4.2 2.75c-.8.38-1.2.95-1.2 1.75v.5", "M12 18.5v.5"],
    neutral: ["M6 12h12"],
    copy: ["M9 9h10v10H9z", "M5 15V5h10"],
    down: ["M12 4v11M7 10l5 5 5-5M5 20h14"],
    out: ["M14 4h6v6M20 4l-9 9M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5"],
  };
  const VERDICT = {
    supported: "Supported", refuted: "Refuted", conflicting: "Conflicting sources",
    not_enough_info: "Not enough information",
  };
  const STANCE = { supports: "Supports", refutes: "Refutes", neutral: "Neutral" };

  const pct = (x) => `${Math.round((+x || 0) * 100)}%`;
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  const fmtDate = (value) => {
    if (!value || typeof value !== "string") return "";
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
    const d = m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : new Date(value);
    if (Number.isNaN(d.getTime())) return value;
    return d.toLocaleDateString("en-GB", { year: "numeric", month: "short", day: "numeric",
      timeZone: m ? "UTC" : undefined });
  };
  const safeUrl = (value) => {
    if (!value || typeof value !== "string") return null;
    try {
      const u = new URL(value);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (_) {
      return null;
    }
  };
  const sourceName = (c) => c.title || c.source || c.doc_id;
  const slug = (text) => (text || "check").toLowerCase().normalize("NFKD").replace(/[^\w\s-]/g, "")
    .trim().split(/\s+/).slice(0, 8).join("-").replace(/-+/g, "-").slice(0, 60) || "check";

  let toastTimer = 0;
  function toast(text) {
    ui.toast.textContent = text;
    ui.toast.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => ui.toast.classList.remove("show"), 2200);
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (_) {
      const ta = el("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "sr";
      document.body.appendChild(ta);
      ta.select();
      const ok = document.execCommand("copy");
      ta.remove();
      return ok;
    }
  }

  function download(name, type, text) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el("a");
    a.href = url;
    a.download = name;
    a.className = "sr";
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 2000);
  }

  // ------------------------------------------------------------ API client
  class ApiError extends Error {
    constructor(kind, message, extra) {
      super(message || kind);
      this.kind = kind;
      Object.assign(this, extra || {});
    }
  }
  const auth = { key: null, token: null, expires: 0, keyed: false };
  try { auth.key = sessionStorage.getItem(KEY_STORE); } catch (_) { /* no storage */ }

  async function send(path, init) {
    try {
      return await fetch(API + path, { ...init, credentials: "same-origin", cache: "no-store" });
    } catch (_) {
      throw new ApiError("down");
    }
  }

  async function failure(res) {
    let body = {};
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    const message = typeof body.message === "string" ? body.message : "";
    if (res.status === 429) {
      const header = parseInt(res.headers.get("Retry-After") || "", 10);
      const said = /retry in (\d+)/i.exec(message);
      return new ApiError("rate", message, { retry: header > 0 ? header : said ? +said[1] : null });
    }
    if (res.status === 401 || res.status === 403) return new ApiError("auth", message);
    if (res.status === 503) return new ApiError("busy", message);
    if (res.status === 422 || res.status === 413) return new ApiError("invalid", message);
    return new ApiError("server", message, { status: res.status });
  }

  async function token() {
    if (auth.token && Date.now() < auth.expires - 30000) return auth.token;
    const res = await send("v1/widget/token", { method: "POST" });
    if (!res.ok) throw await failure(res);
    const body = await res.json();
    auth.token = body.token;
    auth.expires = Date.now() + Math.max(30, +body.expires_in || 60) * 1000;
    return auth.token;
  }

  /** Open reads first; on 401 a widget token for this origin, else the key the editor gives. */
  async function call(path, init = {}) {
    const attempt = async () => {
      const headers = new Headers(init.headers || {});
      if (auth.key) headers.set("Authorization", "Bearer " + auth.key);
      else if (auth.keyed) headers.set("Authorization", "Bearer " + (await token()));
      return send(path, { ...init, headers });
    };
    let res;
    try {
      res = await attempt();
      if (res.status === 401 && !auth.key && !auth.keyed) {
        auth.keyed = true;
        res = await attempt();
      } else if (res.status === 401 && !auth.key && auth.token) {
        // A token from before a server restart (the signing secret may be per process): renew
        // it once before asking the editor for a key.
        auth.token = null;
        res = await attempt();
      }
    } catch (err) {
      if (err.kind === "auth" && !auth.key) return askForKey();
      throw err;
    }
    if (res.status === 401) {
      if (auth.key) {
        auth.key = null;
        try { sessionStorage.removeItem(KEY_STORE); } catch (_) { /* ignore */ }
      }
      return askForKey();
    }
    return res;
  }

  function askForKey() {
    ui.keybox.hidden = false;
    ui.key.focus();
    throw new ApiError("needkey");
  }
  ui.keybox.addEventListener("submit", (e) => {
    e.preventDefault();
    const key = ui.key.value.trim();
    if (!key) return;
    auth.key = key;
    try { sessionStorage.setItem(KEY_STORE, key); } catch (_) { /* ignore */ }
    ui.key.value = "";
    ui.keybox.hidden = true;
    run();
  });

  const postJSON = (path, body) => call(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });

  function explain(err) {
    switch (err && err.kind) {
      case "down": return ["The service can't be reached.", "Check the connection and try again in a moment."];
      case "rate": return ["Too many checks in a short time.",
        err.retry ? `Try again in ${plural(err.retry, "second", "seconds")}.` : "Wait a minute and try again."];
      case "busy": return ["The archive is loading.", "Try again in a moment."];
      case "invalid": return ["This can't be checked:", err.message || "please shorten or rephrase it."];
      case "auth": return ["Not allowed.", err.message || "This service refused the request."];
      case "needkey": return ["A key is needed.", "Enter an API key above to check claims."];
      default: return ["Something went wrong.", `The check failed${err && err.status ? ` (error ${err.status})` : ""}. Try again.`];
    }
  }

  function showStatus(text, isError, detail) {
    ui.status.textContent = "";
    ui.status.classList.toggle("error", !!isError);
    if (!text) return;
    if (isError) {
      ui.status.appendChild(el("strong", null, text));
      if (detail) ui.status.appendChild(document.createTextNode(" " + detail));
    } else {
      ui.status.textContent = text;
    }
  }

  // ------------------------------------------------------------ claim or paragraph
  function sentences(text) {
    const t = text.trim();
    if (!t) return [];
    if (window.Intl && Intl.Segmenter) {
      const seg = new Intl.Segmenter("en", { granularity: "sentence" });
      return [...seg.segment(t)].map((s) => s.segment.trim()).filter((s) => /\w/.test(s));
    }
    return t.split(/(?<=[.!?]["'”’)]*)\s+(?=["“'‘(]?[A-Z0-9])/).filter((s) => /\w/.test(s));
  }
  const mode = () => (document.querySelector('input[name="mode"]:checked') || {}).value || "auto";
  function decide(text) {
    const chosen = mode();
    if (chosen !== "auto") return chosen;
    return sentences(text).length > 1 || text.length > MAX_CLAIM ? "text" : "claim";
  }
  function updateDetected() {
    const text = ui.input.value.trim();
    if (!text) { ui.detected.textContent = ""; return; }
    const n = sentences(text).length;
    const as = decide(text);
    if (mode() === "auto") {
      ui.detected.textContent = as === "claim" ? "Auto: checked as one claim"
        : `Auto: ${plural(n, "sentence", "sentences")}, each check-worthy one is checked`;
    } else {
      ui.detected.textContent = as === "claim" ? "Checked as one claim" : "Each check-worthy sentence is checked";
    }
  }
  ui.input.addEventListener("input", updateDetected);
  for (const r of document.querySelectorAll('input[name="mode"]')) r.addEventListener("change", updateDetected);
  ui.input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      ui.form.requestSubmit();
    }
  });
  for (const b of document.querySelectorAll("[data-example]")) {
    b.addEventListener("click", () => {
      ui.input.value = b.textContent;
      updateDetected();
      ui.form.requestSubmit();
    });
  }
  ui.form.addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });

  // ------------------------------------------------------------ checking
  let running = false;

  async function run() {
    if (running) return;
    const text = ui.input.value.trim();
    if (!text) {
      showStatus("Paste a claim or a paragraph first.", true);
      ui.input.focus();
      return;
    }
    const kind = decide(text);
    running = true;
    ui.check.disabled = true;
    ui.check.classList.add("busy");
    ui.check.querySelector(".label").textContent = "Checking…";
    ui.results.setAttribute("aria-busy", "true");
    showStatus(kind === "claim" ? "Checking the claim against the archive…"
      : "Finding the check-worthy claims and checking each one…");
    try {
      const res = await postJSON("v1/check", kind === "claim" ? { claim: text } : { text });
      if (!res.ok) throw await failure(res);
      const data = await res.json();
      showStatus("");
      render(kind, data);
    } catch (err) {
      const [title, detail] = explain(err);
      showStatus(title, true, detail);
    } finally {
      running = false;
      ui.check.disabled = false;
      ui.check.classList.remove("busy");
      ui.check.querySelector(".label").textContent = "Check";
      ui.results.setAttribute("aria-busy", "false");
    }
  }

  function render(kind, data) {
    ui.results.textContent = "";
    if (kind === "claim") {
      ui.results.appendChild(verdictCard(data, 1, 1));
      ui.announce.textContent = `${VERDICT[data.verdict] || data.verdict}, ${pct(data.confidence)} confidence.`;
      return;
    }
    const claims = data.claims || [];
    ui.results.appendChild(summaryCard(data));
    claims.forEach((v, i) => ui.results.appendChild(verdictCard(v, i + 1, claims.length)));
    ui.announce.textContent = claims.length
      ? `${plural(claims.length, "claim", "claims")} checked.` : "No check-worthy claims found.";
  }

  function badge(verdict, small) {
    const b = el("span", `badge ${verdict}${small ? " small" : ""}`);
    b.appendChild(svg(ICONS[verdict] || ICONS.not_enough_info));
    b.appendChild(el("span", null, VERDICT[verdict] || verdict));
    return b;
  }

  function btn(label, icon, onClick, cls = "btn small") {
    const b = el("button", cls);
    b.type = "button";
    if (icon) b.appendChild(svg(ICONS[icon]));
    b.appendChild(el("span", null, label));
    b.addEventListener("click", onClick);
    return b;
  }

  function summaryCard(data) {
    const claims = data.claims || [];
    const card = el("section", "card summary");
    card.setAttribute("aria-labelledby", "summary-title");
    const head = el("div", "summary-head");
    const h = el("h2", null, claims.length
      ? `${plural(claims.length, "check-worthy claim", "check-worthy claims")} in the paragraph`
      : "No check-worthy claims in the paragraph");
    h.id = "summary-title";
    head.appendChild(h);
    head.appendChild(btn("Markdown", "down", () => exportMarkdown(data, "text")));
    head.appendChild(btn("JSON", "down", () => exportJSON(data, "paragraph")));
    card.appendChild(head);
    if (!claims.length) {
      card.appendChild(el("p", "empty",
        "Questions, opinions and sentences that name nothing and give no number are not checked."));
      return card;
    }
    const list = el("ol");
    claims.forEach((v, i) => {
      const li = el("li");
      const a = el("a");
      a.href = `#claim-${i + 1}`;
      a.appendChild(badge(finalVerdict(v), true));
      a.appendChild(el("span", "claim-text", v.claim));
      li.appendChild(a);
      list.appendChild(li);
    });
    card.appendChild(list);
    return card;
  }

  /** doc_id → the other doc_ids it was merged with (near-duplicates counted once). */
  function duplicates(v) {
    const map = new Map();
    for (const group of v.merged || []) {
      for (const id of group) map.set(id, group.filter((x) => x !== id));
    }
    return map;
  }

  function verdictCard(v, index, total) {
    const card = el("article", `card verdict v-${v.verdict}`);
    card.id = `claim-${index}`;
    const top = el("div", "v-top");
    top.appendChild(el("p", "kicker", total > 1 ? `Claim ${index} of ${total}` : "Claim"));
    const h = el("h2", "claim", v.claim);
    h.id = `claim-${index}-text`;
    h.tabIndex = -1;
    card.setAttribute("aria-labelledby", h.id);
    top.appendChild(h);
    card.appendChild(top);

    // Earlier published fact-checks come first, before this check's own verdict.
    if ((v.fact_checks || []).length) top.appendChild(earlierChecks(v.fact_checks));

    const row = el("div", "v-row");
    const shown = el("span", "shown-verdict");
    const paintVerdict = () => {
      shown.textContent = "";
      shown.appendChild(badge(finalVerdict(v)));
      if (v.editor) {
        const tag = el("span", "edited", "Edited");
        tag.title = `The checker said: ${VERDICT[v.verdict] || v.verdict}`;
        shown.appendChild(tag);
      }
      const link = document.querySelector(`a[href="#claim-${index}"] .badge`);
      if (link) link.replaceWith(badge(finalVerdict(v), true));
    };
    paintVerdict();
    row.appendChild(shown);
    const conf = el("span", "conf");
    const meter = el("span", "meter");
    meter.setAttribute("role", "img");
    meter.setAttribute("aria-label", `Confidence ${pct(v.confidence)}`);
    const fill = el("span");
    fill.style.width = pct(v.confidence);
    meter.appendChild(fill);
    conf.appendChild(meter);
    conf.appendChild(el("span", null, `${pct(v.confidence)} confidence`));
    row.appendChild(conf);
    const counts = el("span", "counts");
    const count = (cls, n, one, many) => {
      const c = el("span", `count ${cls}`);
      c.appendChild(el("b", null, n));
      c.appendChild(el("span", null, n === 1 ? one : many));
      return c;
    };
    counts.appendChild(count("sup", v.sources_supporting, "source supports", "sources support"));
    counts.appendChild(count("ref", v.sources_refuting, "source refutes", "sources refute"));
    counts.title = "Distinct stories: near-duplicate copies of the same story count once.";
    row.appendChild(counts);
    top.appendChild(row);

    card.appendChild(evidenceSection(v));
    card.appendChild(editorPanel(v, index, paintVerdict));

    const foot = el("footer", "v-foot");
    const bits = [];
    if (v.verifier) bits.push(`Stance model: ${v.verifier}`);
    if (v.timings_ms && v.timings_ms.total != null) bits.push(`${Math.round(v.timings_ms.total)} ms`);
    foot.appendChild(el("span", "meta", bits.join(" · ")));
    const exp = el("div", "exports");
    exp.appendChild(el("span", "label", "Export"));
    exp.appendChild(btn("Markdown", "down", () => exportMarkdown(v, "claim")));
    exp.appendChild(btn("JSON", "down", () => exportJSON(v, v.claim)));
    const url = el("input", "cr-url");
    url.type = "url";
    url.placeholder = "Fact-check URL (optional)";
    url.setAttribute("aria-label", "Where the fact-check will be published (optional, for ClaimReview)");
    exp.appendChild(url);
    exp.appendChild(btn("ClaimReview", "down", (e) => exportClaimReview(v, url.value.trim(), e.currentTarget)));
    foot.appendChild(exp);
    card.appendChild(foot);
    return card;
  }

  /** The verdict exports carry: the editor's when they changed it, else the checker's. */
  const finalVerdict = (v) => (v.editor ? v.editor.verdict : v.verdict);

  /** Change the verdict and add a note before export; exports then say it was edited. */
  function editorPanel(v, index, repaint) {
    const box = el("details", "editor");
    const sum = el("summary", null, "Edit verdict");
    box.appendChild(sum);
    const form = el("div", "editor-form");
    const pick = el("select");
    pick.id = `claim-${index}-editor-verdict`;
    for (const [value, label] of Object.entries(VERDICT)) {
      const o = el("option", null, label);
      o.value = value;
      pick.appendChild(o);
    }
    pick.value = finalVerdict(v);
    const pickLabel = el("label", null, "Verdict");
    pickLabel.htmlFor = pick.id;
    const note = el("textarea");
    note.id = `claim-${index}-editor-note`;
    note.maxLength = 2000;
    note.rows = 3;
    note.placeholder = "Why (shown in the exports)";
    note.value = v.editor ? v.editor.note : "";
    const noteLabel = el("label", null, "Editor's note");
    noteLabel.htmlFor = note.id;
    const reset = btn("Reset", null, () => {
      pick.value = v.verdict;
      note.value = "";
      update();
    });
    const update = () => {
      const text = note.value.trim();
      v.editor = pick.value !== v.verdict || text
        ? { verdict: pick.value, note: text, edited: true, checker_verdict: v.verdict } : undefined;
      repaint();
      ui.announce.textContent = v.editor
        ? `Verdict set to ${VERDICT[pick.value]} by the editor.` : "Verdict back to the checker's.";
    };
    pick.addEventListener("change", update);
    note.addEventListener("input", update);
    form.append(pickLabel, pick, noteLabel, note, reset);
    box.appendChild(form);
    return box;
  }

  function earlierChecks(checks) {
    const box = el("section", "earlier");
    box.appendChild(el("h3", null, checks.length === 1 ? "Checked before" : "Checked before, best match first"));
    const list = el("ul");
    for (const f of checks) {
      const li = el("li", "fc");
      li.appendChild(el("span", "rating", f.rating || "Rated"));
      const body = el("div", "fc-body");
      body.appendChild(el("div", "fc-claim", `“${f.claim}”`));
      const meta = el("div", "fc-meta");
      const bits = [f.author, fmtDate(f.published), `match ${pct(f.similarity)}`].filter(Boolean);
      meta.appendChild(document.createTextNode(bits.join(" · ")));
      const href = safeUrl(f.url);
      if (href) {
        meta.appendChild(document.createTextNode(" · "));
        const a = el("a", null, "Read the fact-check");
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        meta.appendChild(a);
      }
      body.appendChild(meta);
      li.appendChild(body);
      list.appendChild(li);
    }
    box.appendChild(list);
    return box;
  }

  /** Evidence rows with near-duplicate copies of the same passage folded into one row
   *  ({e, copies}); the copy with the richest metadata (a link, a title, a date) leads. */
  function foldDuplicates(rows, v) {
    const groupOf = new Map();
    (v.merged || []).forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
    const words = (t) => new Set(String(t).toLowerCase().match(/[\p{L}\p{N}]+/gu) || []);
    const similar = (a, b) => {
      const x = words(a);
      const y = words(b);
      let both = 0;
      for (const w of x) if (y.has(w)) both++;
      return both / Math.max(1, x.size + y.size - both) >= 0.6;
    };
    const rich = (c) => (safeUrl(c.url) ? 4 : 0) + (c.title ? 2 : 0) + (c.published ? 1 : 0);
    const out = [];
    for (const e of rows) {
      const g = groupOf.get(e.citation.doc_id);
      const host = g == null ? null : out.find((r) => groupOf.get(r.e.citation.doc_id) === g
        && r.e.stance === e.stance && similar(r.e.quote, e.quote));
      if (!host) out.push({ e, copies: [] });
      else if (rich(e.citation) > rich(host.e.citation)) {
        host.copies.push(host.e);
        host.e = e;
      } else host.copies.push(e);
    }
    return out;
  }

  function evidenceSection(v) {
    const wrap = el("section", "ev");
    const evidence = v.evidence || [];
    const decisive = foldDuplicates(evidence.filter((e) => e.stance !== "neutral")
      .sort((a, b) => b.score - a.score), v);
    const neutral = foldDuplicates(evidence.filter((e) => e.stance === "neutral"), v);
    const head = el("div", "ev-head");
    head.appendChild(el("h3", null, "Evidence"));
    const folded = decisive.some((r) => r.copies.length);
    head.appendChild(el("span", "hint", evidence.length
      ? `${plural(decisive.length, "passage takes", "passages take")} a side · strongest first` +
        (folded ? " · copies of the same story shown once" : "")
      : ""));
    wrap.appendChild(head);
    if (!evidence.length) {
      wrap.appendChild(el("p", "no-ev", "No passage in the archive bears on this claim."));
      return wrap;
    }
    const dups = duplicates(v);
    const names = new Map(evidence.map((e) => [e.citation.doc_id, sourceName(e.citation)]));
    if (decisive.length) wrap.appendChild(evidenceTable(decisive, dups, names));
    else wrap.appendChild(el("p", "no-ev", "No passage supports or refutes the claim."));
    if (neutral.length) {
      const more = el("details", "more");
      more.appendChild(el("summary", null,
        `${plural(neutral.length, "related passage", "related passages")} that take no side`));
      more.appendChild(evidenceTable(neutral, dups, names));
      wrap.appendChild(more);
    }
    return wrap;
  }

  function sourceBlock(c, cls) {
    const box = el("div", cls);
    box.appendChild(el("span", "src-title", sourceName(c)));
    const meta = [c.publisher, c.title && c.source !== c.title && !safeUrl(c.url) ? c.source : null]
      .filter(Boolean).join(" · ");
    if (meta) box.appendChild(el("span", "src-meta", meta));
    const href = safeUrl(c.url);
    if (href) {
      const a = el("a", "src-link", "Original ↗");
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.setAttribute("aria-label", `Original: ${sourceName(c)} (opens in a new tab)`);
      box.appendChild(a);
    }
    return box;
  }

  function evidenceTable(rows, dups, names) {
    const table = el("table", "evidence");
    const thead = el("thead");
    const hr = el("tr");
    for (const [label, cls] of [["Stance", "col-stance"], ["Quote", "col-quote"], ["Source", "col-source"],
      ["Date", "col-date"], ["", "col-act"]]) {
      const th = el("th", cls, label);
      th.scope = "col";
      if (!label) th.appendChild(el("span", "sr", "Actions"));
      hr.appendChild(th);
    }
    thead.appendChild(hr);
    table.appendChild(thead);
    const tbody = el("tbody");
    for (const { e, copies } of rows) {
      const c = e.citation;
      const tr = el("tr", e.stance);
      const st = el("td", "col-stance");
      const pill = el("span", `stance ${e.stance}`);
      pill.appendChild(svg(ICONS[e.stance] || ICONS.neutral));
      pill.appendChild(el("span", null, STANCE[e.stance] || e.stance));
      st.appendChild(pill);
      const p = e.probabilities && e.probabilities[e.stance] != null ? e.probabilities[e.stance] : e.score;
      const prob = el("span", "prob", `${pct(p)} likely`);
      prob.title = "The stance model's probability for this stance";
      st.appendChild(prob);
      tr.appendChild(st);

      const q = el("td", "col-quote");
      q.appendChild(el("p", "quote", e.quote));
      if ((e.reasons || []).length) {
        const why = el("ul", "reasons");
        why.setAttribute("aria-label", "Why");
        for (const r of e.reasons) why.appendChild(el("li", null, r));
        q.appendChild(why);
      }
      tr.appendChild(q);

      const src = el("td", "col-source");
      src.appendChild(sourceBlock(c, "src"));
      const same = dups.get(c.doc_id) || [];
      if (copies.length) {
        const dup = el("div", "dups");
        dup.appendChild(el("span", "dup", "Near-duplicate"));
        dup.appendChild(el("span", "src-meta", "The same story, counted once, also in:"));
        for (const copy of copies) dup.appendChild(sourceBlock(copy.citation, "src copy"));
        src.appendChild(dup);
      } else if (same.length) {
        const dup = el("div", "dups");
        dup.appendChild(el("span", "dup", "Near-duplicate"));
        dup.appendChild(el("span", "src-meta", "The same story as " +
          same.map((id) => names.get(id) || id).join(", ") + ", counted once"));
        src.appendChild(dup);
      }
      tr.appendChild(src);

      const date = el("td", "col-date");
      const when = fmtDate(c.published) || fmtDate((copies.find((x) => x.citation.published) || {citation: {}}).citation.published);
      if (when) date.textContent = when;
      else {
        date.appendChild(el("span", "none", "—"));
        date.appendChild(el("span", "sr", "No date"));
      }
      tr.appendChild(date);
      const act = el("td", "col-act");
      const copyBtn = btn("Copy", "copy", async () => {
        toast((await copyText(citationText(e.quote, c))) ? "Citation copied" : "Copying is blocked here");
      });
      copyBtn.setAttribute("aria-label", `Copy citation: ${sourceName(c)}`);
      copyBtn.title = "Copy the quote with its source";
      act.appendChild(copyBtn);
      tr.appendChild(act);
      tbody.appendChild(tr);
    }
    table.appendChild(tbody);
    return table;
  }

  function citationText(quote, c) {
    const where = [sourceName(c), c.publisher, fmtDate(c.published)].filter(Boolean).join(", ");
    const href = safeUrl(c.url);
    const locator = href || `${c.source || c.doc_id}, characters ${c.char_start}–${c.char_end}`;
    return `“${quote}” — ${where}. ${locator}`;
  }

  // ------------------------------------------------------------ exports
  const md = (s) => String(s == null ? "" : s).replace(/([\\`*_[\]<>#|])/g, "\\$1").replace(/\s*\n\s*/g, " ");

  function markdownVerdict(v, level) {
    const h = "#".repeat(level);
    const out = [];
    if (v.editor) {
      out.push(`**Verdict:** ${VERDICT[v.editor.verdict] || v.editor.verdict} (edited by the ` +
        `editor; the checker said ${VERDICT[v.verdict] || v.verdict}, confidence ${pct(v.confidence)})  `);
      if (v.editor.note) out.push(`**Editor's note:** ${md(v.editor.note)}  `);
    } else {
      out.push(`**Verdict:** ${VERDICT[v.verdict] || v.verdict} (confidence ${pct(v.confidence)})  `);
    }
    out.push(`**Sources:** ${v.sources_supporting} supporting, ${v.sources_refuting} refuting ` +
      "(distinct stories; near-duplicates counted once)", "");
    if ((v.fact_checks || []).length) {
      out.push(`${h}# Checked before`, "");
      for (const f of v.fact_checks) {
        const bits = [f.author, f.published].filter(Boolean).join(", ");
        const href = safeUrl(f.url);
        out.push(`- “${md(f.claim)}” — rated **${md(f.rating)}**${bits ? ` (${md(bits)})` : ""}` +
          `${href ? ` <${href}>` : ""}, match ${pct(f.similarity)}`);
      }
      out.push("");
    }
    out.push(`${h}# Evidence`, "");
    const sorted = [...(v.evidence || [])].sort((a, b) =>
      (a.stance === "neutral") - (b.stance === "neutral") || b.score - a.score);
    if (!sorted.length) out.push("No passage in the archive bears on this claim.");
    const dups = duplicates(v);
    const cite = (c) => {
      const href = safeUrl(c.url);
      const where = [sourceName(c), c.publisher, c.published].filter(Boolean).map(md).join(", ");
      const locator = href ? `<${href}>` : `\`${c.source || c.doc_id}\`, characters ${c.char_start}–${c.char_end}`;
      return `${where} — ${locator}`;
    };
    foldDuplicates(sorted, v).forEach(({ e, copies }, i) => {
      const same = dups.get(e.citation.doc_id);
      out.push(`${i + 1}. **${STANCE[e.stance] || e.stance}** — “${md(e.quote)}”  `);
      if ((e.reasons || []).length) out.push(`   _Why:_ ${e.reasons.map(md).join("; ")}  `);
      out.push(`   ${cite(e.citation)}${!copies.length && same && same.length
        ? ` (near-duplicate of ${same.map(md).join(", ")})` : ""}${copies.length ? "  " : ""}`);
      for (const copy of copies) out.push(`   Also in (near-duplicate, counted once): ${cite(copy.citation)}  `);
    });
    if ((v.merged || []).length) {
      out.push("", `${h}# Near-duplicates counted once`, "");
      for (const g of v.merged) out.push(`- ${g.map((id) => `\`${id}\``).join(" = ")}`);
    }
    out.push("");
    return out;
  }

  function footer() {
    return [`---`, `_Checked with assistant on ${new Date().toISOString().slice(0, 10)}. ` +
      "Every quote is verbatim from the cited source._", ""];
  }

  function exportMarkdown(data, kind) {
    let lines;
    let name;
    if (kind === "claim") {
      lines = [`# Fact check: ${md(data.claim)}`, "", ...markdownVerdict(data, 2), ...footer()];
      name = `check-${slug(data.claim)}.md`;
    } else {
      lines = ["# Fact check of a paragraph", "", `> ${md(data.text)}`, ""];
      if (!(data.claims || []).length) lines.push("No check-worthy claims found.", "");
      (data.claims || []).forEach((v, i) => {
        lines.push(`## Claim ${i + 1}: ${md(v.claim)}`, "", ...markdownVerdict(v, 3));
      });
      lines.push(...footer());
      name = `check-${slug(data.text)}.md`;
    }
    download(name, "text/markdown;charset=utf-8", lines.join("\n"));
    toast("Markdown exported");
  }

  function exportJSON(data, title) {
    download(`check-${slug(title)}.json`, "application/json", JSON.stringify(data, null, 2) + "\n");
    toast("JSON exported");
  }

  async function exportClaimReview(v, url, button) {
    const claim = v.claim;
    button.disabled = true;
    try {
      const path = "v1/check/claimreview" + (url ? `?url=${encodeURIComponent(url)}` : "");
      const body = { claim };
      if (v.editor) body.editor = { verdict: v.editor.verdict, note: v.editor.note };
      const res = await postJSON(path, body);
      if (!res.ok) throw await failure(res);
      const review = await res.json();
      download(`claimreview-${slug(claim)}.jsonld`, "application/ld+json", JSON.stringify(review, null, 2) + "\n");
      toast("ClaimReview exported");
    } catch (err) {
      const [title, detail] = explain(err);
      showStatus(title, true, detail);
    } finally {
      button.disabled = false;
    }
  }

  // A link such as /desk#claim=Turkey%20has%20joined… fills the box and checks it.
  const fromHash = /^#claim=(.+)$/.exec(location.hash);
  if (fromHash) {
    try {
      ui.input.value = decodeURIComponent(fromHash[1]);
      updateDetected();
      run();
    } catch (_) { /* a malformed link: ignore */ }
  }
  updateDetected();
})();
