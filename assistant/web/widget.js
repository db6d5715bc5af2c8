/*! assistant chat widget — quoted, cited answers from the newsroom's own sources.
 *
 *   <script src="https://HOST/widget.js" data-title="Ask the newsroom" defer></script>
 *
 * Optional attributes: data-title, data-subtitle, data-greeting, data-placeholder,
 * data-suggestions ("question one|question two"), data-accent (a CSS colour),
 * data-position ("right" or "left"), data-theme ("light", "dark", or "auto": the reader's setting).
 *
 * Everything lives in a Shadow DOM: the page's CSS cannot reach in, ours cannot leak out.
 * Text from sources is only ever set with textContent, never parsed as HTML.
 * Plain ES2020, no dependencies, no build step.
 */
(() => {
  "use strict";

  const script = document.currentScript;
  if (!script || !script.src) return;
  const API = new URL(".", script.src).href; // the service, from this script's own URL
  const registry = (window.__assistantWidgets = window.__assistantWidgets || new Set());
  if (registry.has(API)) return;
  registry.add(API);

  const attr = (name, fallback) => {
    const v = script.getAttribute("data-" + name);
    return v && v.trim() ? v.trim() : fallback;
  };
  const CONFIG = {
    title: attr("title", "Ask the newsroom"),
    subtitle: attr("subtitle", "Answers quoted from our sources"),
    greeting: attr("greeting",
      "Ask a question about the news. Every answer is quoted word for word from our sources, with a link to each one."),
    placeholder: attr("placeholder", "Ask a question…"),
    suggestions: attr("suggestions", "").split("|").map((s) => s.trim()).filter(Boolean).slice(0, 4),
    accent: attr("accent", ""),
    position: attr("position", "right") === "left" ? "left" : "right",
    theme: ["dark", "auto"].includes(attr("theme", "light")) ? attr("theme", "light") : "light",
  };
  const STORE_KEY = "assistant-widget:" + API;
  const MAX_STORED = 40;
  const MAX_CHARS = 1000;

  // ---------------------------------------------------------------- styles
  /** The dark palette, under `scope` (data-theme="dark", or "auto" with a dark system setting). */
  function dark(scope) {
    return `
${scope} { --ink: #f3f4f6; --muted: #b6bcc6; --line: #2d3340; --soft: #1f2430; --panel: #151922;
  --danger: #fca5a5; --danger-bg: #2a1416; --warn: #fcd34d; --warn-bg: #2a2210; }
${scope} .input { background: #0f131a; border-color: #394150; color: var(--ink); }
${scope} .input::placeholder { color: #9aa3b2; }
${scope} .context { background: #1b2029; color: #e5e7eb; }
${scope} .context mark { color: #111827; }
${scope} .cite { background: transparent; color: #93b4ff; }
${scope} .src-n, ${scope} .kicker, ${scope} .back, ${scope} .orig { color: #93b4ff; }
${scope} .error p { color: #fecaca; }
${scope} .abstain .bubble { border-color: #4b3b1a; }
${scope} .error .bubble, ${scope} .retry { border-color: #5b2528; }
${scope} .panel { border-color: #2d3340; }`;
  }
  const STYLES = `
:host { all: initial; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.aw {
  --accent: #1d4ed8; --accent-ink: #ffffff; --ink: #111827; --muted: #4b5563;
  --line: #e5e7eb; --soft: #f3f4f6; --panel: #ffffff; --mark: #fde68a;
  --danger: #b91c1c; --danger-bg: #fef2f2; --warn: #92400e; --warn-bg: #fffbeb;
  font: 400 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); letter-spacing: normal; text-transform: none; text-align: left;
  -webkit-font-smoothing: antialiased; direction: ltr;
}
button, textarea, a { font: inherit; color: inherit; letter-spacing: inherit; }
button { cursor: pointer; border: 0; background: none; padding: 0; margin: 0; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.sr { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
svg { display: block; width: 20px; height: 20px; fill: none; stroke: currentColor;
  stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }

.launcher {
  position: fixed; bottom: 20px; right: 20px; z-index: 2147483000;
  width: 56px; height: 56px; border-radius: 50%; display: grid; place-items: center;
  background: var(--accent); color: var(--accent-ink);
  box-shadow: 0 6px 20px rgba(17, 24, 39, .25), 0 2px 6px rgba(17, 24, 39, .15);
  transition: transform .15s ease, box-shadow .15s ease;
}
.launcher:hover { transform: translateY(-2px); box-shadow: 0 10px 24px rgba(17, 24, 39, .28); }
.launcher svg { width: 26px; height: 26px; }
.aw[data-pos="left"] .launcher { right: auto; left: 20px; }

.panel {
  position: fixed; bottom: 88px; right: 20px; z-index: 2147483001;
  width: 400px; height: 640px; max-height: calc(100vh - 108px);
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--panel); border-radius: 16px; border: 1px solid rgba(17, 24, 39, .08);
  box-shadow: 0 24px 48px rgba(17, 24, 39, .22), 0 4px 12px rgba(17, 24, 39, .08);
}
.aw[data-pos="left"] .panel { right: auto; left: 20px; }

.head { display: flex; align-items: center; gap: 10px; padding: 14px 12px 14px 18px;
  border-bottom: 1px solid var(--line); flex: none; }
.brand { flex: 1; min-width: 0; display: flex; align-items: center; gap: 10px; }
.logo { flex: none; width: 32px; height: 32px; border-radius: 9px; display: grid; place-items: center;
  background: var(--accent); color: var(--accent-ink); }
.logo svg { width: 18px; height: 18px; }
.titles { min-width: 0; }
.title { margin: 0; font-size: 15.5px; font-weight: 650; line-height: 1.25; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }
.subtitle { margin: 1px 0 0; font-size: 12.5px; color: var(--muted); line-height: 1.3; }
.icon-btn { flex: none; width: 36px; height: 36px; border-radius: 8px; display: grid; place-items: center;
  color: var(--muted); }
.icon-btn:hover { background: var(--soft); color: var(--ink); }

.body { position: relative; flex: 1; min-height: 0; }
.log { position: absolute; inset: 0; overflow-y: auto; padding: 18px 16px 8px;
  overscroll-behavior: contain; scroll-behavior: smooth; }
.intro { color: var(--muted); font-size: 14px; margin: 2px 2px 14px; }
.suggest { display: flex; flex-direction: column; align-items: flex-start; gap: 8px; margin: 0 0 12px; }
.chip { text-align: left; font-size: 13.5px; line-height: 1.35; padding: 8px 12px; border-radius: 12px;
  border: 1px solid var(--line); background: var(--panel); color: var(--ink); }
.chip:hover { border-color: var(--accent); color: var(--accent); }

.msg { display: flex; margin: 0 0 14px; }
.msg.user { justify-content: flex-end; }
.bubble { max-width: 88%; padding: 10px 14px; border-radius: 14px; overflow-wrap: anywhere; }
.user .bubble { background: var(--accent); color: var(--accent-ink); border-bottom-right-radius: 4px;
  white-space: pre-wrap; }
.bot .bubble { background: var(--soft); border-bottom-left-radius: 4px; max-width: 100%; width: 100%; }
.answer { margin: 0; white-space: pre-wrap; }
.answer .line { display: block; }
.answer .line + .line { margin-top: 8px; }
.cite { display: inline-grid; place-items: center; min-width: 22px; height: 20px; padding: 0 6px;
  margin: 0 1px; border-radius: 10px; vertical-align: 1px; font-size: 12px; font-weight: 650;
  line-height: 1; background: var(--panel); color: var(--accent); border: 1px solid currentColor;
  font-variant-numeric: tabular-nums; }
.cite:hover { background: var(--accent); color: var(--accent-ink); border-color: var(--accent); }
.sources { margin: 10px 0 0; padding: 10px 0 0; border-top: 1px solid var(--line); list-style: none; }
.sources ol { list-style: none; margin: 0; padding: 0; }
.sources-label { font-size: 11.5px; font-weight: 650; letter-spacing: .06em; text-transform: uppercase;
  color: var(--muted); margin: 0 0 4px; }
.src { display: flex; gap: 8px; align-items: baseline; width: 100%; text-align: left; padding: 5px 6px;
  margin: 0 -6px; border-radius: 8px; font-size: 13px; line-height: 1.35; }
.src:hover { background: rgba(17, 24, 39, .05); }
.src-n { flex: none; font-weight: 650; color: var(--accent); font-variant-numeric: tabular-nums; }
.src-title { font-weight: 550; }
.src-meta { color: var(--muted); }
.src-quote { display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden;
  margin-top: 2px; font: 13.5px/1.45 Georgia, "Times New Roman", serif; color: var(--muted); }
.agree { display: flex; gap: 6px; align-items: center; margin: 0 0 8px; font-size: 12.5px;
  font-weight: 600; color: var(--muted); }
.agree svg { width: 15px; height: 15px; flex: none; }
.actions { display: flex; align-items: center; gap: 2px; margin: 8px -6px 0; }
.act { display: inline-flex; align-items: center; gap: 5px; height: 30px; padding: 0 8px;
  border-radius: 8px; font-size: 12.5px; color: var(--muted); }
.act svg { width: 16px; height: 16px; }
.act:hover { background: rgba(17, 24, 39, .06); color: var(--ink); }
.act[aria-pressed="true"] { color: var(--accent); }
.act[aria-pressed="true"] svg { fill: color-mix(in srgb, var(--accent) 18%, transparent); }
.act-note { margin-left: 6px; font-size: 12px; color: var(--muted); }
.stopped { margin: 0 0 14px; font-size: 13px; color: var(--muted); font-style: italic; }

.abstain .notice { display: flex; gap: 8px; align-items: center; margin: 0; font-weight: 650; color: var(--warn); }
.abstain .notice svg { flex: none; }
.abstain .hint { margin: 4px 0 0; font-size: 13.5px; color: var(--muted); }
.abstain .bubble { background: var(--warn-bg); border: 1px solid #fde68a; }

.typing { display: inline-flex; gap: 4px; padding: 4px 0; }
.typing i { width: 7px; height: 7px; border-radius: 50%; background: #9ca3af; animation: aw-blink 1.2s infinite; }
.typing i:nth-child(2) { animation-delay: .2s; } .typing i:nth-child(3) { animation-delay: .4s; }
@keyframes aw-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
@media (prefers-reduced-motion: reduce) { .typing i { animation: none; } .log { scroll-behavior: auto; } }

.error .bubble { background: var(--danger-bg); color: var(--danger); border: 1px solid #fecaca; width: 100%; max-width: 100%; }
.error strong { display: block; margin: 0 0 2px; }
.error p { margin: 0; font-size: 14px; color: #7f1d1d; }
.retry { margin-top: 8px; padding: 6px 12px; border-radius: 8px; font-size: 13.5px; font-weight: 600;
  background: var(--panel); color: var(--danger); border: 1px solid #fecaca; }
.retry:hover { border-color: var(--danger); }

.composer { flex: none; display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px 6px 14px;
  border-top: 1px solid var(--line); margin: 0; }
.input { flex: 1; min-width: 0; resize: none; border: 1px solid #d1d5db; border-radius: 12px;
  padding: 10px 12px; max-height: 140px; min-height: 44px; line-height: 1.4; background: #fff;
  color: var(--ink); font-size: 15px; margin: 0; outline: none; }
.input:focus { border-color: var(--accent); box-shadow: 0 0 0 3px color-mix(in srgb, var(--accent) 22%, transparent); }
.input::placeholder { color: #6b7280; }
.send { flex: none; width: 44px; height: 44px; border-radius: 12px; display: grid; place-items: center;
  background: var(--accent); color: var(--accent-ink); }
.send:disabled { opacity: .45; cursor: default; }
.send.stop { background: var(--ink); color: var(--panel); }
.send.stop svg { fill: currentColor; stroke: none; width: 14px; height: 14px; }
.foot { flex: none; margin: 0; padding: 0 14px 10px; font-size: 11.5px; color: var(--muted); text-align: center; }

.source { position: absolute; inset: 0; background: var(--panel); display: flex; flex-direction: column; }
.source-bar { flex: none; display: flex; align-items: center; gap: 6px; padding: 8px 10px;
  border-bottom: 1px solid var(--line); }
.back { display: inline-flex; align-items: center; gap: 4px; padding: 6px 10px 6px 6px; border-radius: 8px;
  font-size: 14px; font-weight: 600; color: var(--accent); }
.back:hover { background: var(--soft); }
.source-scroll { flex: 1; overflow-y: auto; padding: 16px 18px 20px; overscroll-behavior: contain; }
.kicker { margin: 0 0 4px; font-size: 11.5px; font-weight: 650; letter-spacing: .06em;
  text-transform: uppercase; color: var(--accent); }
.s-title { margin: 0; font-size: 17px; line-height: 1.3; font-weight: 650; overflow-wrap: anywhere; outline: none; }
.s-meta { margin: 4px 0 14px; font-size: 13px; color: var(--muted); overflow-wrap: anywhere; }
.context { margin: 0; padding: 12px 14px; border-left: 3px solid var(--accent); background: #f9fafb;
  border-radius: 0 10px 10px 0; font: 15px/1.65 Georgia, "Iowan Old Style", "Times New Roman", serif;
  color: #374151; white-space: pre-wrap; overflow-wrap: anywhere; }
.context mark { background: var(--mark); color: var(--ink); padding: 1px 0; border-radius: 2px; }
.s-note { margin: 10px 0 0; font-size: 12.5px; color: var(--muted); }
.orig { display: inline-flex; align-items: center; gap: 6px; margin-top: 14px; padding: 8px 12px;
  border-radius: 10px; border: 1px solid var(--line); font-size: 14px; font-weight: 600;
  color: var(--accent); text-decoration: none; }
.orig:hover { border-color: var(--accent); }
.orig svg { width: 16px; height: 16px; }

@media (max-width: 480px) {
  .panel { inset: 0; width: 100%; height: 100%; max-height: none; border-radius: 0; border: 0; }
  .aw[data-pos="left"] .panel { left: 0; }
  .aw.open .launcher { display: none; }
  .launcher { bottom: 16px; right: 16px; }
  .aw[data-pos="left"] .launcher { left: 16px; }
  .bubble { max-width: 92%; }
  .foot { display: none; }
  .composer { padding-bottom: 12px; }
}
${dark('.aw[data-theme="dark"]')}
@media (prefers-color-scheme: dark) { ${dark('.aw[data-theme="auto"]')} }`;

  const ICON = {
    chat: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12Z"/><path d="M8.5 10.5h7M8.5 14h4"/></svg>',
    quote: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 19V9a4 4 0 0 1 4-4M14 19V9a4 4 0 0 1 4-4"/><path d="M4 14h5v5H4zM14 14h5v5h-5z"/></svg>',
    close: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>',
    reset: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 12a9 9 0 1 0 3-6.7"/><path d="M3 4v5h5"/></svg>',
    send: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M5 12h14M13 6l6 6-6 6"/></svg>',
    back: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M15 6l-6 6 6 6"/></svg>',
    out: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M14 4h6v6M20 4l-9 9M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5"/></svg>',
    stop: '<svg viewBox="0 0 24 24" aria-hidden="true"><rect x="5" y="5" width="14" height="14" rx="2"/></svg>',
    copy: '<svg viewBox="0 0 24 24" aria-hidden="true"><rect x="9" y="9" width="11" height="11" rx="2"/><path d="M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1"/></svg>',
    up: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M7 10v10H4V10zM7 10l4-7a2 2 0 0 1 3 2l-1 5h6a2 2 0 0 1 2 2.3l-1.4 6A2 2 0 0 1 17.7 20H7"/></svg>',
    down: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M7 14V4H4v10zM7 14l4 7a2 2 0 0 0 3-2l-1-5h6a2 2 0 0 0 2-2.3l-1.4-6A2 2 0 0 0 17.7 4H7"/></svg>',
    agree: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 12l5 5L20 6"/></svg>',
    info: '<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="9"/><path d="M12 8h.01M11 12h1v5h1"/></svg>',
  };

  // Fixed markup only: nothing from the page or the sources is ever placed in it.
  const SKELETON = `
<div class="aw" part="root">
  <button class="launcher" type="button" aria-expanded="false" aria-controls="aw-panel">${ICON.chat}</button>
  <section class="panel" id="aw-panel" role="dialog" aria-modal="false" aria-labelledby="aw-title" hidden>
    <header class="head">
      <div class="brand">
        <span class="logo">${ICON.quote}</span>
        <div class="titles"><h2 class="title" id="aw-title"></h2><p class="subtitle"></p></div>
      </div>
      <button class="icon-btn reset" type="button" aria-label="Start a new conversation" title="New conversation">${ICON.reset}</button>
      <button class="icon-btn close" type="button" aria-label="Close chat" title="Close (Esc)">${ICON.close}</button>
    </header>
    <div class="body">
      <div class="log" role="log" aria-live="polite" aria-relevant="additions text" aria-label="Conversation" tabindex="-1">
        <div class="start"><p class="intro"></p><div class="suggest"></div></div>
        <div class="msgs"></div>
      </div>
      <section class="source" aria-labelledby="aw-s-title" hidden>
        <div class="source-bar"><button class="back" type="button">${ICON.back}<span>Back to the answer</span></button></div>
        <div class="source-scroll">
          <p class="kicker"></p>
          <h3 class="s-title" id="aw-s-title" tabindex="-1"></h3>
          <p class="s-meta"></p>
          <blockquote class="context"></blockquote>
          <p class="s-note" hidden></p>
          <a class="orig" target="_blank" rel="noopener noreferrer" hidden><span>Read the original</span>${ICON.out}</a>
        </div>
      </section>
    </div>
    <form class="composer" novalidate>
      <label class="sr" for="aw-input">Your question</label>
      <textarea class="input" id="aw-input" rows="1" maxlength="${MAX_CHARS}" autocomplete="off"></textarea>
      <button class="send" type="submit" aria-label="Send question">${ICON.send}</button>
    </form>
    <p class="foot">Enter to send · Shift+Enter for a new line · Esc to close</p>
  </section>
</div>`;

  // ---------------------------------------------------------------- helpers
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  };

  /** A date string as "12 Mar 2024" (date-only values are not shifted by the time zone). */
  const fmtDate = (value) => {
    if (!value || typeof value !== "string") return "";
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
    const d = m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : new Date(value);
    if (Number.isNaN(d.getTime())) return value;
    try {
      return d.toLocaleDateString(document.documentElement.lang || undefined,
        { year: "numeric", month: "short", day: "numeric", timeZone: m ? "UTC" : undefined });
    } catch (_) {
      return value;
    }
  };

  /** Only http(s) links are ever made from source data (no javascript:, data:, …). */
  const safeUrl = (value) => {
    if (!value || typeof value !== "string") return null;
    try {
      const u = new URL(value);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (_) {
      return null;
    }
  };

  const sourceName = (c) => (c && (c.title || c.source || c.doc_id)) || "Source";
  const sourceMeta = (c) => [c.publisher, fmtDate(c.published)].filter(Boolean).join(" · ");

  const storage = {
    load() {
      try {
        const raw = window.sessionStorage.getItem(STORE_KEY);
        const data = raw ? JSON.parse(raw) : null;
        return data && data.v === 1 && Array.isArray(data.messages) ? data : null;
      } catch (_) {
        return null;
      }
    },
    save(data) {
      try {
        window.sessionStorage.setItem(STORE_KEY, JSON.stringify({ v: 1, ...data }));
      } catch (_) { /* storage full or disabled: the conversation just won't survive a reload */ }
    },
  };

  class ApiError extends Error {
    constructor(kind, message, extra) {
      super(message || kind);
      this.kind = kind; // down | rate | auth | busy | invalid | server
      Object.assign(this, extra || {});
    }
  }

  // ---------------------------------------------------------------- API client
  const auth = { token: null, expires: 0, keyed: false };

  async function send(path, init) {
    try {
      return await fetch(API + path, { ...init, mode: "cors", credentials: "omit", cache: "no-store" });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      console.warn(`assistant widget: cannot reach ${API}. If the service is up, add this page's ` +
        `origin (${location.origin}) to ASSISTANT_CORS_ORIGINS on the server.`);
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

  async function widgetToken(force) {
    if (!force && auth.token && Date.now() < auth.expires - 30000) return auth.token;
    const res = await send("v1/widget/token", { method: "POST" });
    if (!res.ok) throw await failure(res);
    const body = await res.json();
    auth.token = body.token;
    auth.expires = Date.now() + Math.max(30, +body.expires_in || 60) * 1000;
    return auth.token;
  }

  /** A request with open reads; on 401, again with a widget token (keyed reads). */
  async function call(path, init = {}) {
    const attempt = async (withToken, force) => {
      const headers = new Headers(init.headers || {});
      if (withToken) headers.set("Authorization", "Bearer " + (await widgetToken(force)));
      return send(path, { ...init, headers });
    };
    let res = await attempt(auth.keyed, false);
    if (res.status === 401) {
      auth.keyed = true;
      res = await attempt(true, true);
    }
    return res;
  }

  /** Server-sent events from a fetch() body (EventSource cannot POST). */
  async function* events(res) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const boundary = /\r?\n\r?\n/;
    const parse = (block) => {
      let name = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      return data.length ? { name, data: JSON.parse(data.join("\n")) } : null;
    };
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (err && err.name === "AbortError") throw err;
        throw new ApiError("down");
      }
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      let m;
      while ((m = boundary.exec(buffer))) {
        const block = buffer.slice(0, m.index);
        buffer = buffer.slice(m.index + m[0].length);
        const ev = parse(block);
        if (ev) yield ev;
      }
    }
    buffer += decoder.decode();
    if (buffer.trim()) {
      const ev = parse(buffer);
      if (ev) yield ev;
    }
  }

  const documents = new Map(); // doc_id → Promise<document | null>
  function getDocument(docId) {
    if (!documents.has(docId)) {
      const path = "v1/documents/" + docId.split("/").map(encodeURIComponent).join("/");
      const p = call(path, { headers: { Accept: "application/json" } })
        .then((res) => (res.ok ? res.json() : null))
        .catch(() => null);
      documents.set(docId, p);
      p.then((doc) => { if (!doc) documents.delete(docId); });
    }
    return documents.get(docId);
  }

  // ---------------------------------------------------------------- the widget
  function mount() {
    const host = document.createElement("assistant-widget");
    // Inline !important beats any page stylesheet: the host stays a zero-size, visible anchor.
    const hostStyle = { all: "initial", display: "block", position: "static", width: "0",
      height: "0", margin: "0", padding: "0", border: "0", overflow: "visible", visibility: "visible",
      opacity: "1", transform: "none", filter: "none", contain: "none" };
    for (const [k, v] of Object.entries(hostStyle)) host.style.setProperty(k, v, "important");
    const root = host.attachShadow({ mode: "open" });
    if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && CSSStyleSheet.prototype.replaceSync) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLES);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(el("style", null, STYLES));
    }
    const tpl = document.createElement("template");
    tpl.innerHTML = SKELETON;
    root.appendChild(tpl.content);
    (document.body || document.documentElement).appendChild(host);

    const $ = (sel) => root.querySelector(sel);
    const ui = {
      wrap: $(".aw"), launcher: $(".launcher"), panel: $(".panel"), log: $(".log"), msgs: $(".msgs"),
      start: $(".start"), input: $(".input"), form: $(".composer"), sendBtn: $(".send"),
      source: $(".source"), sTitle: $(".s-title"), sMeta: $(".s-meta"), kicker: $(".kicker"),
      context: $(".context"), sNote: $(".s-note"), orig: $(".orig"),
    };
    ui.wrap.dataset.pos = CONFIG.position;
    ui.wrap.dataset.theme = CONFIG.theme;
    if (CONFIG.accent && cssSupports("color", CONFIG.accent)) {
      ui.wrap.style.setProperty("--accent", CONFIG.accent);
    }
    $(".title").textContent = CONFIG.title;
    $(".subtitle").textContent = CONFIG.subtitle;
    $(".intro").textContent = CONFIG.greeting;
    ui.input.placeholder = CONFIG.placeholder;
    ui.launcher.setAttribute("aria-label", "Open chat: " + CONFIG.title);
    ui.launcher.title = CONFIG.title;
    for (const q of CONFIG.suggestions) {
      const chip = el("button", "chip", q);
      chip.type = "button";
      chip.addEventListener("click", () => ask(q));
      $(".suggest").appendChild(chip);
    }

    const state = { cid: null, messages: [], open: false, busy: false, lastTrigger: null,
      abort: null, generation: 0, stopped: false };
    const persist = () => storage.save({
      cid: state.cid, open: state.open, keyed: auth.keyed, messages: state.messages.slice(-MAX_STORED),
    });

    // ---- open / close
    function open(focus = true) {
      state.open = true;
      ui.panel.hidden = false;
      ui.wrap.classList.add("open");
      ui.launcher.setAttribute("aria-expanded", "true");
      ui.launcher.setAttribute("aria-label", "Close chat: " + CONFIG.title);
      scrollDown(true);
      if (focus) ui.input.focus();
      persist();
    }
    function close() {
      closeSource(false);
      state.open = false;
      ui.panel.hidden = true;
      ui.wrap.classList.remove("open");
      ui.launcher.setAttribute("aria-expanded", "false");
      ui.launcher.setAttribute("aria-label", "Open chat: " + CONFIG.title);
      ui.launcher.focus();
      persist();
    }
    ui.launcher.addEventListener("click", () => (state.open ? close() : open()));
    $(".close").addEventListener("click", close);
    $(".reset").addEventListener("click", () => {
      if (state.abort) state.abort.abort();
      state.generation++;
      state.cid = null;
      state.messages = [];
      ui.msgs.textContent = "";
      ui.start.hidden = false;
      closeSource(false);
      persist();
      ui.input.focus();
    });
    const fullScreen = window.matchMedia("(max-width: 480px)");
    ui.panel.addEventListener("keydown", (e) => {
      if (e.key === "Tab" && fullScreen.matches) {
        const items = [...ui.panel.querySelectorAll("button, textarea, a[href], [tabindex='0']")]
          .filter((x) => !x.disabled && x.offsetParent !== null);
        if (!items.length) return;
        const first = items[0];
        const lastItem = items[items.length - 1];
        const current = root.activeElement;
        if (e.shiftKey && current === first) { e.preventDefault(); lastItem.focus(); }
        else if (!e.shiftKey && current === lastItem) { e.preventDefault(); first.focus(); }
        return;
      }
      if (e.key !== "Escape") return;
      e.preventDefault();
      e.stopPropagation();
      if (!ui.source.hidden) closeSource(true);
      else close();
    });

    // ---- composer
    const grow = () => {
      ui.input.style.height = "auto";
      ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 140) + "px";
    };
    ui.input.addEventListener("input", grow);
    ui.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        if (!state.busy) ui.form.requestSubmit(); // Enter never stops an answer: the button does
      }
    });
    ui.form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (state.busy) { // the send button is the stop button while an answer comes
        stop();
        return;
      }
      const text = ui.input.value.trim();
      if (!text) return;
      ui.input.value = "";
      grow();
      ask(text);
    });

    const nearBottom = () => ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 120;
    function scrollDown(force) {
      if (force || nearBottom()) ui.log.scrollTop = ui.log.scrollHeight;
    }
    /** Bring a finished answer into view: all of it, or, when it is taller than the log, its
     *  start (the reader reads down from there). Measured after it has grown to full size. */
    function reveal(row) {
      const log = ui.log;
      const end = log.scrollHeight - log.clientHeight;
      log.scrollTop = Math.max(0, Math.min(row.offsetTop - 12, end));
    }

    // ---- messages
    function userBubble(text) {
      const row = el("div", "msg user");
      row.appendChild(el("div", "bubble", text));
      ui.start.hidden = true;
      ui.msgs.appendChild(row);
      return row;
    }

    /** Answer text with each [n] as a button that opens source n; each quote (up to its
     *  marker) on a line of its own. */
    function fillAnswer(p, text, citations) {
      p.textContent = "";
      const marker = /\[(\d+)\]/g;
      let line = el("span", "line");
      p.appendChild(line);
      let last = 0;
      let m;
      while ((m = marker.exec(text))) {
        const n = +m[1];
        const c = citations.get(n);
        if (!c) continue;
        if (m.index > last) line.appendChild(document.createTextNode(text.slice(last, m.index)));
        const b = el("button", "cite", n);
        b.type = "button";
        b.setAttribute("aria-label", `Source ${n}: ${sourceName(c)}`);
        b.title = sourceName(c);
        b.addEventListener("click", () => openSource(c, b, n));
        line.appendChild(b);
        last = m.index + m[0].length;
        if (/^\s+\S/.test(text.slice(last))) {
          line.appendChild(document.createTextNode(" "));
          line = el("span", "line");
          p.appendChild(line);
          last = text.slice(last).search(/\S/) + last;
        }
      }
      if (last < text.length) line.appendChild(document.createTextNode(text.slice(last)));
    }

    function sourceList(items, label) {
      const wrap = el("div", "sources");
      wrap.appendChild(el("p", "sources-label", label));
      const list = el("ol");
      for (const { c, n } of items) {
        const li = el("li");
        const b = el("button", "src");
        b.type = "button";
        b.appendChild(el("span", "src-n", n != null ? `[${n}]` : "›"));
        const body = el("span");
        body.appendChild(el("span", "src-title", sourceName(c)));
        const meta = sourceMeta(c);
        if (meta) body.appendChild(el("span", "src-meta", " — " + meta));
        if (n == null && c.quote) body.appendChild(el("span", "src-quote", c.quote));
        b.appendChild(body);
        b.setAttribute("aria-label", `Show source${n != null ? " " + n : ""}: ${sourceName(c)}${meta ? ", " + meta : ""}`);
        b.addEventListener("click", () => openSource(c, b, n));
        li.appendChild(b);
        list.appendChild(li);
      }
      wrap.appendChild(list);
      return wrap;
    }

    /** A bot message element; `render(answer)` fills it (again) as data arrives. */
    function botBubble() {
      const row = el("article", "msg bot");
      row.setAttribute("aria-label", "Answer");
      const bubble = el("div", "bubble");
      const typing = el("span", "typing");
      typing.setAttribute("aria-label", "Looking through the sources");
      typing.append(el("i"), el("i"), el("i"));
      bubble.appendChild(typing);
      row.appendChild(bubble);
      ui.msgs.appendChild(row);
      row.setAttribute("aria-busy", "true");

      const render = (answer, final) => {
        bubble.textContent = "";
        const citations = new Map();
        for (const c of answer.citations || []) citations.set(c.n, c);
        for (const q of answer.quotes || []) if (q.citation) citations.set(q.citation.n, q.citation);
        if (final && answer.abstained) {
          row.classList.add("abstain");
          const notice = el("p", "notice");
          notice.insertAdjacentHTML("afterbegin", ICON.info); // fixed icon markup
          notice.appendChild(el("span", null, "The sources do not answer this."));
          bubble.appendChild(notice);
          bubble.appendChild(el("p", "hint",
            "Nothing in our sources answers this question, so there is no answer rather than a guess."));
          const related = (answer.related || []).filter((q) => q && q.citation).slice(0, 3)
            .map((q) => ({ c: { ...q.citation, quote: q.text || q.citation.quote }, n: null }));
          if (related.length) bubble.appendChild(sourceList(related, "Closest passages"));
          return;
        }
        const [lead, body] = splitLead(answer.answer || "", answer.quotes || []);
        if (lead) {
          const agree = el("p", "agree");
          if (/\bagree\b/.test(lead)) agree.insertAdjacentHTML("afterbegin", ICON.agree); // fixed icon
          agree.appendChild(el("span", null, lead));
          bubble.appendChild(agree);
        }
        const p = el("p", "answer");
        fillAnswer(p, body, citations);
        bubble.appendChild(p);
        if (final && citations.size) {
          const items = [...citations.values()].sort((a, b) => a.n - b.n).map((c) => ({ c, n: c.n }));
          bubble.appendChild(sourceList(items, items.length === 1 ? "Source" : "Sources"));
        }
      };
      const finish = () => row.setAttribute("aria-busy", "false");
      return { row, bubble, render, finish };
    }

    /** The answer's opening words ("2 sources agree. As of 2024-01-08:"), which come before its
     *  first quote, apart from the quotes; [lead, rest]. */
    function splitLead(text, quotes) {
      const first = quotes.find((q) => q && typeof q.text === "string" && q.text);
      if (!first) return ["", text];
      const at = text.indexOf(first.text.slice(0, 24));
      return at > 0 ? [text.slice(0, at).trim(), text.slice(at)] : ["", text];
    }

    /** Copy, thumbs up and thumbs down under a finished answer (`m` is its stored message). */
    function answerActions(m) {
      const bar = el("div", "actions");
      const note = el("span", "act-note");
      note.setAttribute("role", "status");
      const button = (cls, icon, label, text) => {
        const b = el("button", "act " + cls);
        b.type = "button";
        b.insertAdjacentHTML("afterbegin", icon); // fixed icon markup
        if (text) b.appendChild(el("span", null, text));
        b.setAttribute("aria-label", label);
        b.title = label;
        bar.appendChild(b);
        return b;
      };
      const copy = button("copy", ICON.copy, "Copy the answer and its sources", "Copy");
      copy.addEventListener("click", async () => {
        note.textContent = (await copyText(plainAnswer(m.answer))) ? "Copied" : "Could not copy";
      });
      const up = button("up", ICON.up, "Good answer");
      const down = button("down", ICON.down, "Bad answer");
      const show = () => {
        up.setAttribute("aria-pressed", String(m.rating === "up"));
        down.setAttribute("aria-pressed", String(m.rating === "down"));
      };
      const rate = async (rating) => {
        if (m.rating === rating) return;
        const before = m.rating;
        m.rating = rating;
        show();
        note.textContent = "";
        const ok = await sendFeedback(m, rating);
        if (!ok) m.rating = before;
        show();
        note.textContent = ok ? "Thanks for the feedback" : "Feedback could not be sent";
        persist();
      };
      up.addEventListener("click", () => rate("up"));
      down.addEventListener("click", () => rate("down"));
      show();
      bar.appendChild(note);
      return bar;
    }

    /** The answer as plain text, each source on a line of its own, for the clipboard. */
    function plainAnswer(a) {
      const lines = [a.answer || ""];
      const cites = (a.citations || []).slice().sort((x, y) => x.n - y.n);
      if (cites.length) {
        lines.push("", "Sources:");
        for (const c of cites) {
          lines.push(`[${c.n}] ` + [sourceName(c), sourceMeta(c), safeUrl(c.url)].filter(Boolean).join(" — "));
        }
      }
      return lines.join("\n");
    }

    async function copyText(text) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (_) { // no Clipboard API (an http page, an old browser): the selection way
        const area = el("textarea", "sr");
        area.value = text;
        root.appendChild(area);
        area.select();
        let ok = false;
        try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
        area.remove();
        return ok;
      }
    }

    async function sendFeedback(m, rating) {
      try {
        const a = m.answer;
        const res = await call("v1/feedback", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({
            id: m.id, rating, question: m.question || "", answer: a.answer || "",
            conversation_id: m.cid || null,
            citations: (a.citations || []).map((c) => ({ doc_id: c.doc_id, char_start: c.char_start, char_end: c.char_end })),
          }),
        });
        return res.ok;
      } catch (_) {
        return false;
      }
    }

    function errorBubble(err, retry) {
      const row = el("div", "msg error");
      row.setAttribute("role", "alert");
      const bubble = el("div", "bubble");
      const [title, text] = explain(err);
      bubble.appendChild(el("strong", null, title));
      bubble.appendChild(el("p", null, text));
      if (retry) {
        const b = el("button", "retry", "Try again");
        b.type = "button";
        b.addEventListener("click", () => { row.remove(); retry(); });
        bubble.appendChild(b);
      }
      row.appendChild(bubble);
      ui.msgs.appendChild(row);
      scrollDown(true);
    }

    function explain(err) {
      switch (err && err.kind) {
        case "down":
          return ["The service is unavailable",
            "The newsroom assistant can't be reached right now. Please check your connection and try again in a moment."];
        case "rate":
          return ["Too many questions",
            err.retry ? `You've asked a lot in a short time. Please try again in ${err.retry} second${err.retry === 1 ? "" : "s"}.`
              : "You've asked a lot in a short time. Please wait a minute and try again."];
        case "busy":
          return ["The assistant is starting up", "Its sources are being loaded. Please try again in a moment."];
        case "auth":
          return ["Not available on this page",
            "This page is not allowed to use the newsroom assistant. The site's owner can enable it."];
        case "invalid":
          return ["The question could not be asked", err.message || "Please rephrase the question."];
        default:
          return ["Something went wrong",
            `The assistant could not answer${err && err.status ? ` (error ${err.status})` : ""}. Please try again.`];
      }
    }

    // ---- asking
    async function ask(text, existingRow) {
      if (state.busy) return;
      if (!state.open) open();
      state.busy = true;
      const generation = state.generation;
      state.abort = new AbortController();
      state.stopped = false;
      busyButton(true);
      const userRow = existingRow || userBubble(text);
      const bot = botBubble();
      scrollDown(true);
      const answer = { answer: "", quotes: [], citations: [], abstained: false };
      let done = null;
      try {
        const res = await call("v1/chat", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
          body: JSON.stringify({ message: text, conversation_id: state.cid, stream: true }),
          signal: state.abort.signal,
        });
        if (!res.ok) throw await failure(res);
        if ((res.headers.get("content-type") || "").includes("application/json")) {
          done = await res.json(); // a proxy or server that answers without streaming
        } else {
          for await (const ev of events(res)) {
            if (ev.name === "meta") {
              state.cid = ev.data.conversation_id || state.cid;
            } else if (ev.name === "quote") {
              answer.quotes.push(ev.data);
            } else if (ev.name === "delta") {
              answer.answer += ev.data.text || "";
              const stick = nearBottom(); // before the text grows, or it never counts as near
              bot.render(answer, false);
              if (stick) scrollDown(true);
            } else if (ev.name === "done") {
              done = ev.data;
            } else if (ev.name === "error") {
              throw new ApiError("server", ev.data && ev.data.message);
            }
          }
        }
        if (!done || !done.answer) throw new ApiError("down");
        if (generation !== state.generation) return; // the conversation was reset meanwhile
        state.cid = done.conversation_id || state.cid;
        const final = slim(done.answer);
        const message = { role: "bot", answer: final, id: newId(), question: done.question || text,
          cid: state.cid };
        bot.render(final, true);
        bot.bubble.appendChild(answerActions(message));
        bot.finish();
        reveal(bot.row);
        state.messages.push({ role: "user", text }, message);
        persist();
      } catch (err) {
        bot.row.remove();
        if (generation !== state.generation) return;
        if (err && err.name === "AbortError") {
          if (state.stopped) {
            const note = el("p", "stopped", "Answer stopped.");
            note.setAttribute("role", "status");
            ui.msgs.appendChild(note);
            if (!ui.input.value) ui.input.value = text;
          }
          return;
        }
        errorBubble(err, err.kind === "invalid" || err.kind === "auth" ? null : () => ask(text, userRow));
        if (err.kind === "invalid") {
          userRow.remove();
          if (!ui.input.value) ui.input.value = text;
        }
      } finally {
        state.busy = false;
        state.abort = null;
        busyButton(false);
      }
    }

    /** While an answer comes, the send button stops it. */
    function busyButton(busy) {
      ui.sendBtn.classList.toggle("stop", busy);
      ui.sendBtn.setAttribute("aria-label", busy ? "Stop answering" : "Send question");
      ui.sendBtn.title = busy ? "Stop" : "Send";
      ui.sendBtn.innerHTML = busy ? ICON.stop : ICON.send; // fixed icon markup
    }

    function stop() {
      if (!state.abort) return;
      state.stopped = true;
      state.abort.abort();
    }

    const newId = () => (window.crypto && crypto.randomUUID ? crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2));

    /** What is kept of an answer (in sessionStorage, for reloads). */
    function slim(a) {
      return {
        answer: a.answer, abstained: !!a.abstained,
        citations: a.citations || [], quotes: (a.quotes || []).map((q) => ({ text: q.text, citation: q.citation })),
        related: (a.related || []).slice(0, 3).map((q) => ({ text: q.text, citation: q.citation })),
      };
    }

    // ---- the cited passage
    let sourceSeq = 0;
    async function openSource(c, trigger, n) {
      const seq = ++sourceSeq;
      state.lastTrigger = trigger;
      ui.kicker.textContent = n != null ? `Source [${n}]` : "Closest passage";
      ui.sTitle.textContent = sourceName(c);
      const metaBits = [c.publisher, fmtDate(c.published)].filter(Boolean);
      if (!c.title && !metaBits.length) metaBits.push("Archive document");
      ui.sMeta.textContent = metaBits.join(" · ");
      showContext(c.quote || "", "", "");
      ui.sNote.hidden = true;
      const url = safeUrl(c.url);
      ui.orig.hidden = !url;
      if (url) ui.orig.href = url;
      else ui.orig.removeAttribute("href");
      ui.source.hidden = false;
      ui.source.querySelector(".source-scroll").scrollTop = 0;
      ui.sTitle.focus();

      const doc = await getDocument(c.doc_id);
      if (seq !== sourceSeq || !doc || typeof doc.text !== "string") return;
      const text = doc.text;
      const quote = c.quote || "";
      // Offsets are code points on the server; find the quote exactly, near its offset.
      let at = text.slice(c.char_start, c.char_end) === quote ? c.char_start : -1;
      if (at < 0) at = text.indexOf(quote, Math.max(0, c.char_start - 400));
      if (at < 0) at = text.indexOf(quote);
      if (at < 0 || !quote) return;
      const [before, after] = around(text, at, at + quote.length);
      showContext(quote, before, after);
      if (!c.url && doc.source && doc.source !== sourceName(c)) {
        ui.sNote.textContent = "Source file: " + doc.source;
        ui.sNote.hidden = false;
      }
    }

    /** Up to a paragraph (at most ~450 characters) either side of the quote, cut at words. */
    function around(text, start, end) {
      const span = 450;
      let from = Math.max(0, start - span);
      const para = text.lastIndexOf("\n", start - 1);
      if (para >= from) from = para + 1;
      else if (from > 0) from = text.indexOf(" ", from) + 1 || from;
      let to = Math.min(text.length, end + span);
      const next = text.indexOf("\n", end);
      if (next >= 0 && next <= to) to = next;
      else if (to < text.length) to = text.lastIndexOf(" ", to) > end ? text.lastIndexOf(" ", to) : to;
      const before = (from > 0 && text[from - 1] !== "\n" ? "…" : "") + text.slice(from, start);
      const after = text.slice(end, to) + (to < text.length && text[to] !== "\n" ? "…" : "");
      return [before, after];
    }

    function showContext(quote, before, after) {
      ui.context.textContent = "";
      if (before) ui.context.appendChild(document.createTextNode(before));
      ui.context.appendChild(el("mark", null, quote));
      if (after) ui.context.appendChild(document.createTextNode(after));
    }

    function closeSource(restoreFocus) {
      if (ui.source.hidden) return;
      sourceSeq++;
      ui.source.hidden = true;
      if (restoreFocus && state.lastTrigger && state.lastTrigger.isConnected) state.lastTrigger.focus();
    }
    $(".back").addEventListener("click", () => closeSource(true));

    // The host page may open the chat: window.dispatchEvent(new Event("assistant-widget:open")).
    window.addEventListener("assistant-widget:open", () => open());

    // ---- restore this tab's conversation
    const saved = storage.load();
    if (saved) {
      state.cid = typeof saved.cid === "string" ? saved.cid : null;
      auth.keyed = !!saved.keyed;
      for (const m of saved.messages) {
        if (m && m.role === "user" && typeof m.text === "string") {
          userBubble(m.text);
          state.messages.push(m);
        } else if (m && m.role === "bot" && m.answer && typeof m.answer === "object") {
          const b = botBubble();
          b.render(m.answer, true);
          if (typeof m.id === "string") b.bubble.appendChild(answerActions(m));
          b.finish();
          state.messages.push(m);
        }
      }
      if (saved.open) open(false);
    }
  }

  function cssSupports(prop, value) {
    try { return window.CSS.supports(prop, value); } catch (_) { return false; }
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
})();
