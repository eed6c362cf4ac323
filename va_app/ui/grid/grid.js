// The card grid: client-side state, keyboard labelling, batched decisions.
//
// A decision paints on the card at once (this file) and is sent to the server at once: a POST
// to the decision endpoint (va_app/ui/grid/endpoint.py) holding every decision not yet
// confirmed, answered with the numbers written ("applied") or refused ("rejected") and the
// label's counts — no rerun. Where the endpoint cannot be reached the batch goes as a trigger
// event instead (a rerun of the grid's fragment; events that reach the server while a rerun
// is pending replace each other, hence every unconfirmed decision in each), and the next
// render's data answers. Until the answer the card shows the decision as pending, and a batch
// without an answer is sent again.
//
// Nothing on screen is lost: every decision has an id made here, and until the server confirms
// it the decision also waits in localStorage (one list per corpus, label and annotator). A
// server that is down, restarted (its old ticket answers 410) or out of disk (507) leaves the
// decisions unsaved — the bar says how many — and they are sent again, with the next render's
// ticket after a restart; a reloaded page (or another tab, once the tab that made them is gone)
// sends the stored ones. The store writes each id once, however often it comes. Closing the
// tab with unsaved decisions asks first.

const RESEND_MS = 2000;
//: Decisions per request (the server takes at most 500; a long outage can pile up more).
const MAX_SEND = 200;
//: Without navigator.locks (plain-HTTP pages), another tab's stored decisions are taken over
//: once they have waited this long.
const ORPHAN_MS = 15000;
const instances = new Map(); // grid key -> Grid (one per mounted grid; survives reruns)
let nextSeq = Date.now() % 1e9; // decision numbers: increasing within this page load
let active = null; // the grid that got the last pointer interaction
const local = []; // decisions of this page load not yet confirmed: {seq, group, label, ...}
const undone = new Set(); // groups this page load has undone (before the server confirms)

function newId() {
  // 128 random bits as hex: crypto.randomUUID exists only on https/localhost pages.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// This page load's id; a lock held under it for the page's lifetime tells other tabs (and
// this tab after a reload) which stored decisions still have a live owner.
const tabId = (window.__vaTabId = window.__vaTabId || newId());
if (navigator.locks && !window.__vaTabLock) {
  window.__vaTabLock = true;
  navigator.locks.request("va-tab:" + tabId, () => new Promise(() => {})).catch(() => {});
}

async function liveTabs() {
  // The tabs holding their lock now, or null when this browser cannot say.
  if (!navigator.locks || !navigator.locks.query) return null;
  try {
    const state = await navigator.locks.query();
    return new Set(state.held.map((l) => l.name).filter((n) => n.startsWith("va-tab:"))
      .map((n) => n.slice(7)));
  } catch (err) {
    return null;
  }
}

// Unconfirmed decisions in localStorage, one item each ("<list key>|<decision id>" ->
// {id, shot_id, value, before, group, undo_of, title, label, tab, t}): tabs adding and removing
// at the same time never overwrite each other's. Storage that is full or blocked leaves them in
// memory only.
const Unsaved = {
  read(key) {
    const found = [];
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const name = localStorage.key(i);
        if (name && name.startsWith(key + "|")) found.push(JSON.parse(localStorage.getItem(name)));
      }
    } catch (err) { /* unreadable: nothing stored */ }
    return found.filter((e) => e && e.id).sort((a, b) => (a.t || 0) - (b.t || 0) || (a.n || 0) - (b.n || 0));
  },
  put(key, entry) {
    try {
      if (key) localStorage.setItem(key + "|" + entry.id, JSON.stringify(entry));
    } catch (err) { /* memory only */ }
  },
  remove(key, ids) {
    try {
      for (const id of ids) localStorage.removeItem(key + "|" + id);
    } catch (err) { /* nothing to do */ }
  },
};
let storedCount = 0; // orders the decisions stored in one millisecond

function reloadPage() {
  // Reload to get a new ticket, but only when every unsaved decision is in storage (the new
  // page sends them from there); true when the reload is under way.
  if (window.__vaReloading) return true;
  for (const grid of instances.values()) {
    for (const key of new Set(grid.pending.map((d) => d.store))) {
      const stored = new Set(Unsaved.read(key).map((e) => e.id));
      if (!key || grid.pending.some((d) => d.store === key && !stored.has(d.id))) return false;
    }
  }
  window.__vaReloading = true;
  location.reload();
  return true;
}

function pendingIds() {
  const ids = new Set();
  for (const grid of instances.values()) for (const d of grid.pending) ids.add(d.id);
  return ids;
}

// Measurements for `python -m va_app bench --browser` (key time, painted, confirmed): kept
// only when the page asks for them (window.__vaTrace set before load, as the bench does).
const trace = window.__vaTrace ? (window.__vaGrid = window.__vaGrid || { log: [], bySeq: {} }) : null;

const WORDS = { true: "positive", false: "negative", null: "not labelled by you" };
const KEYMAP = [
  ["← → ↑ ↓, j / k, Home / End", "move the focus"],
  ["p or 1", "positive"],
  ["n or 2", "negative"],
  ["0 or Delete", "clear"],
  ["u or Ctrl+Z", "undo the last decision"],
  ["x, Shift+click, Shift+arrows", "select several cards (then p / n / 0 labels them all)"],
  ["Esc", "clear the selection; in a text field: leave it, back to the cards"],
  ["Space", "play / pause the focused shot"],
  ["?", "show / hide this help"],
];

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function afterPaint(callback) {
  // The rAF callback runs before the frame is painted; a message posted from it is
  // delivered after that paint.
  requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => callback(performance.now());
    channel.port2.postMessage(0);
  });
}

class Grid {
  constructor(key, parent) {
    this.key = key;
    this.parent = parent;
    this.root = el("div", "va-grid");
    this.root.setAttribute("data-grid", key);
    this.cards = []; // {id, data, node, server}
    this.focus = 0;
    this.anchor = null;
    this.selection = new Set();
    this.pending = []; // decisions not yet sent or not yet confirmed
    this.sentAt = 0; // when the unconfirmed decisions were last sent
    this.trouble = ""; // why the last send failed ("" when it did not): shown with the count
    this.staleTicket = null; // the ticket a restarted server no longer knows
    this.clip = null;
    this.video = null;
    this.signature = "";
    this.root.addEventListener("pointerdown", () => (active = this));
  }

  mount(parent) {
    this.parent = parent;
    if (this.root.parentNode !== parent) parent.appendChild(this.root);
  }

  visible() {
    return this.root.isConnected && this.root.getClientRects().length > 0;
  }

  update(data, send) {
    if (data.ticket !== (this.data && this.data.ticket)) this.noEndpoint = false; // new ticket: try again
    const newTicket = Boolean(this.data) && data.ticket !== this.data.ticket;
    if (data.ticket !== this.staleTicket && this.staleTicket) this.staleTicket = null;
    // Another label now: its decisions wait in storage until that label is shown again.
    this.pending = this.pending.filter((d) => d.label === data.label);
    this.data = data;
    this.send = send;
    const signature = data.cards.map((c) => c.id).join("\n") + "|" + data.read_only;
    if (signature !== this.signature) this.build(data);
    this.signature = signature;
    const byId = new Map(data.cards.map((c) => [c.id, c]));
    for (const card of this.cards) card.data = byId.get(card.id) || card.data;
    this.settle(new Set(data.applied || []), new Set(data.rejected || []));
    this.renderMessage(data.error);
    this.renderRecent();
    this.setClip(data.clip);
    this.repaint();
    if (newTicket) this.flush(true); // e.g. the server restarted: send what waits, now
    this.adopt();
  }

  // -- building ------------------------------------------------------------------------
  build(data) {
    this.root.replaceChildren();
    const bar = el("div", "va-bar");
    this.counter = el("div", "va-counts");
    this.progress = el("div", "va-progress");
    this.message = el("div", "va-message");
    const hint = el("button", "va-help-toggle", "? keys");
    hint.type = "button";
    hint.addEventListener("click", () => this.toggleHelp());
    this.sync = el("div", "va-sync");
    this.sync.setAttribute("role", "status");
    bar.append(this.counter, this.sync, this.message, hint);
    this.help = el("div", "va-help");
    this.help.hidden = true;
    const table = el("table");
    for (const [keys, what] of KEYMAP) {
      const row = el("tr");
      row.append(el("td", "va-keys", keys), el("td", "", what));
      table.append(row);
    }
    this.help.append(el("strong", "", "Keyboard"), table);
    this.grid = el("div", "va-cards");
    this.recent = el("div", "va-recent");
    this.root.append(bar, this.progress, this.help, this.grid, this.recent);
    if (!data.cards.length) this.grid.append(el("div", "va-empty", "Nothing to show here."));
    this.cards = data.cards.map((c, i) => this.buildCard(c, i, data));
    this.focus = Math.min(this.focus, Math.max(0, this.cards.length - 1));
    this.selection.clear();
    this.video = null;
    this.clip = null;
  }

  buildCard(c, i, data) {
    const node = el("div", "va-card");
    node.dataset.shot = c.id;
    node.dataset.index = String(i);
    const media = el("div", "va-media");
    if (c.thumb) {
      const img = el("img", "va-thumb");
      img.src = c.thumb;
      img.alt = c.title;
      img.loading = "lazy";
      media.append(img);
    } else {
      media.append(el("div", "va-noimage", "(no preview image)"));
    }
    const scrub = el("div", "va-scrub");
    media.append(scrub);
    if (c.playable) media.append(el("span", "va-play-hint", "▶ Space"));
    const meta = el("div", "va-meta");
    meta.append(el("strong", "", c.title), document.createTextNode(" · " + c.when));
    if (c.score !== null && c.score !== undefined) {
      meta.append(document.createTextNode(" · score "), el("strong", "va-score", c.score.toFixed(2)));
    }
    const status = el("div", "va-status");
    const mark = el("span", "va-mark");
    const others = el("span", "va-others");
    status.append(mark, others);
    node.append(media, meta, status);
    const card = { id: c.id, data: c, node, media, mark, others, scrub };
    if (!data.read_only) {
      const buttons = el("div", "va-buttons");
      const make = (cls, text, value) => {
        const b = el("button", cls, text);
        b.type = "button";
        b.addEventListener("click", (e) => {
          e.stopPropagation();
          this.setFocus(i, false);
          this.decide(value, e.timeStamp);
        });
        buttons.append(b);
        return b;
      };
      card.pos = make("va-pos", "Positive", true);
      card.neg = make("va-neg", "Negative", false);
      card.clr = make("va-clr", "Clear", null);
      if (data.show_similar) {
        const sim = el("button", "va-sim", "More like this");
        sim.type = "button";
        sim.addEventListener("click", (e) => {
          e.stopPropagation();
          this.send("similar", c.id);
        });
        buttons.append(sim);
      }
      node.append(buttons);
    } else if (c.link) {
      const a = el("a", "va-link", "Open source clip");
      a.href = c.link;
      a.target = "_blank";
      a.rel = "noopener";
      node.append(a);
    }
    node.addEventListener("click", (e) => {
      if (e.shiftKey) this.extendSelection(i);
      else this.setFocus(i, false);
    });
    media.addEventListener("dblclick", () => this.togglePlay());
    this.scrubbing(card);
    this.grid.append(node);
    return card;
  }

  scrubbing(card) {
    // Hover over a card scrubs its filmstrip: the pointer's x picks the keyframe shown.
    const strip = card.data.strip;
    if (!strip) return;
    let tiles = 0;
    const probe = new Image();
    probe.onload = () => {
      const thumb = card.media.querySelector("img");
      const aspect = thumb && thumb.naturalHeight ? thumb.naturalWidth / thumb.naturalHeight : 16 / 9;
      tiles = Math.max(1, Math.round(probe.naturalWidth / (probe.naturalHeight * aspect)));
      card.scrub.style.backgroundImage = `url("${strip}")`;
      card.scrub.style.backgroundSize = `${tiles * 100}% 100%`;
    };
    card.media.addEventListener("mouseenter", () => { if (!probe.src) probe.src = strip; });
    card.media.addEventListener("mousemove", (e) => {
      if (!tiles || card.node.classList.contains("va-playing")) return;
      const box = card.media.getBoundingClientRect();
      const i = Math.min(tiles - 1, Math.floor(((e.clientX - box.left) / box.width) * tiles));
      card.scrub.style.backgroundPosition = `${tiles > 1 ? (i / (tiles - 1)) * 100 : 0}% 0`;
      card.scrub.classList.add("va-on");
    });
    card.media.addEventListener("mouseleave", () => card.scrub.classList.remove("va-on"));
  }

  // -- state -----------------------------------------------------------------------------
  shown(card) {
    for (let k = this.pending.length - 1; k >= 0; k--) {
      if (this.pending[k].shot_id === card.id) return this.pending[k].value;
    }
    return card.data.mine;
  }

  paint(card) {
    const value = this.shown(card);
    const pending = this.pending.some((d) => d.shot_id === card.id);
    const node = card.node;
    const state = value === true ? "positive" : value === false ? "negative" : "none";
    node.dataset.state = state;
    node.dataset.saved = pending ? "false" : "true";
    node.classList.toggle("va-focused", this.cards[this.focus] === card);
    node.classList.toggle("va-selected", this.selection.has(card.id));
    card.mark.textContent = (pending ? "… " : "") + WORDS[value];
    card.mark.className = "va-mark va-" + state + (pending ? " va-pending" : "");
    card.others.textContent = card.data.others ? "others: " + card.data.others : "";
    if (card.pos) {
      card.pos.classList.toggle("va-chosen", value === true);
      card.neg.classList.toggle("va-chosen", value === false);
      card.clr.disabled = value === null;
    }
  }

  settle(applied, rejected, via = "render", confirmed = new Set()) {
    const now = performance.now();
    const ok = (d) => applied.has(d.seq) || confirmed.has(d.id);
    for (const d of this.pending) {
      const entry = trace && trace.bySeq[d.seq];
      if (ok(d) && entry && !entry.confirmed) Object.assign(entry, { confirmed: now, via });
    }
    const done = (d) => ok(d) || rejected.has(d.seq);
    for (const d of this.pending) {
      // What the store now holds for this card (a render would bring the same).
      const card = ok(d) && this.cards.find((c) => c.id === d.shot_id);
      if (card) card.data = { ...card.data, mine: d.value };
    }
    const finished = this.pending.filter(done);
    for (const d of finished) Unsaved.remove(d.store, [d.id]);
    this.pending = this.pending.filter((d) => !done(d));
    for (let k = local.length - 1; k >= 0; k--) if (done(local[k])) local.splice(k, 1);
    if (!this.pending.length) clearTimeout(this.timer);
    this.flush(false);
  }

  flush(force) {
    if (this.data.read_only || !this.pending.length) return;
    if (!force && this.sentAt && performance.now() - this.sentAt < RESEND_MS) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), RESEND_MS + 50);
    this.sentAt = performance.now();
    const batch = { items: this.pending.slice(0, MAX_SEND).map(
      ({ seq, id, shot_id, value, before, group, undo_of }) =>
        ({ seq, id, shot_id, value, before, group, undo_of })), label: this.data.label };
    // A restarted server does not know the old ticket: only a new render brings one.
    if (this.staleTicket && this.staleTicket === this.data.ticket) return;
    if (this.data.endpoint && this.data.ticket && !this.noEndpoint) this.post(batch);
    else this.send("decisions", batch);
  }

  async post(batch) {
    // Relative to the page's folder, so a server.baseUrlPath prefix carries over.
    const url = new URL(this.data.endpoint, new URL(".", document.baseURI)).href;
    const ticket = this.data.ticket;
    let response, answer;
    try {
      response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ...batch, ticket }), credentials: "same-origin" });
      answer = await response.json().catch(() => null);
    } catch (err) {
      return this.troubled("reconnecting", "The server cannot be reached; your decisions are kept here and sent when it is back.");
    }
    if (response.status === 410) {
      // The server restarted (or the page sat idle for hours): its next render brings a ticket.
      // The page is from the old server process (its fragments are gone too): reload it, and
      // the stored decisions go out with the new page's ticket.
      this.staleTicket = ticket;
      if (reloadPage()) return this.troubled("reconnecting", "The server restarted: reloading the page; your decisions are sent again.");
      return this.troubled("reconnecting", "The server restarted: reload the page to send your decisions (they are kept until then).");
    }
    if ([404, 405].includes(response.status)) {
      // No endpoint here (a proxy that passes only Streamlit's own paths): the rerun path.
      this.noEndpoint = true;
      this.send("decisions", batch);
      return;
    }
    if (!answer) {
      // A proxy's error page while the app is down (502, 504 ...).
      return this.troubled("reconnecting", `The server answered ${response.status}; your decisions are kept here and sent again.`);
    }
    this.data = { ...this.data, counts: answer.counts || this.data.counts,
                  recent: answer.recent || this.data.recent };
    if (answer.retry) return this.troubled("retrying", answer.error);
    this.trouble = "";
    this.settle(new Set(answer.applied || []), new Set(answer.rejected || []), "endpoint",
                new Set(answer.confirmed || []));
    this.renderMessage(answer.error);
    this.repaint();
  }

  troubled(state, message) {
    // Keep every unconfirmed decision (memory and storage) and try again on the timer.
    this.trouble = state;
    this.renderMessage(message);
    this.repaint();
  }

  async adopt() {
    // Stored decisions nobody in this page is sending (a reload, a closed tab, a label shown
    // again): send them now with this grid's ticket.
    const key = this.data.unsaved_key;
    if (this.data.read_only || !key) return;
    const alive = await liveTabs();
    const sending = pendingIds();
    const now = Date.now();
    const orphan = (e) => !sending.has(e.id) && e.label === this.data.label &&
      (e.tab === tabId || (alive ? !alive.has(e.tab) : now - (e.t || 0) > ORPHAN_MS));
    const taken = Unsaved.read(key).filter(orphan);
    if (!taken.length || this.data.unsaved_key !== key) return;
    const renumber = new Map(); // the old page's group numbers -> this page's
    const number = (g) => (renumber.has(g) ? renumber.get(g) : (renumber.set(g, ++nextSeq), nextSeq));
    for (const e of taken) {
      const d = { ...e, seq: ++nextSeq, group: number(e.group), store: key,
                  undo_of: e.undo_of === null || e.undo_of === undefined ? null : number(e.undo_of) };
      this.pending.push(d);
      if (d.undo_of === null) local.push({ ...d, after: d.value });
    }
    for (const e of taken) Unsaved.put(key, { ...e, tab: tabId }); // this page sends them now
    this.repaint();
    this.flush(true);
  }

  // -- actions ---------------------------------------------------------------------------
  decide(value, keyTime) {
    if (this.data.read_only) {
      this.renderMessage(this.data.notice || "You cannot annotate here.");
      return;
    }
    const ids = this.selection.size ? [...this.selection] : this.cards[this.focus] ? [this.cards[this.focus].id] : [];
    if (!ids.length) return;
    const group = ++nextSeq;
    for (const id of ids) {
      const card = this.cards.find((c) => c.id === id);
      const before = card ? this.shown(card) : null;
      this.queue({ seq: ++nextSeq, group, shot_id: id, value, before, undo_of: null,
                   title: card ? card.data.title : id }, keyTime);
    }
    const bulk = this.selection.size > 0;
    this.selection.clear();
    if (!bulk) this.setFocus(Math.min(this.focus + 1, this.cards.length - 1), true);
    this.repaint();
    this.flush(true);
  }

  queue(d, keyTime) {
    Object.assign(d, { id: newId(), label: this.data.label, store: this.data.unsaved_key });
    this.pending.push(d);
    Unsaved.put(d.store, { id: d.id, shot_id: d.shot_id, value: d.value, before: d.before,
                           group: d.group, undo_of: d.undo_of, title: d.title, label: d.label,
                           tab: tabId, t: Date.now(), n: ++storedCount });
    if (d.undo_of === null) local.push({ ...d, after: d.value });
    const entry = { seq: d.seq, shot_id: d.shot_id, value: d.value, key: keyTime ?? performance.now(),
                    handled: performance.now() };
    if (trace) {
      trace.bySeq[d.seq] = entry;
      trace.log.push(entry);
      afterPaint((t) => (entry.painted = t));
    }
  }

  recentGroups() {
    // Newest first: [{group, entries}], from the server's list and this page's unconfirmed.
    const seen = new Set();
    const all = [];
    for (const e of [...(this.data.recent || []), ...local.filter((d) => d.label === this.data.label)]) {
      if (seen.has(e.seq) || undone.has(e.group)) continue;
      seen.add(e.seq);
      all.push(e);
    }
    const groups = new Map();
    for (const e of all) {
      if (!groups.has(e.group)) groups.set(e.group, []);
      groups.get(e.group).push(e);
    }
    return [...groups.entries()].map(([group, entries]) => ({ group, entries })).reverse();
  }

  undo(group) {
    if (this.data.read_only) return;
    const groups = this.recentGroups();
    const target = group === undefined ? groups[0] : groups.find((g) => g.group === group);
    if (!target) {
      this.renderMessage("Nothing to undo.");
      return;
    }
    undone.add(target.group);
    for (const e of target.entries) {
      this.queue({ seq: ++nextSeq, group: ++nextSeq, shot_id: e.shot_id, value: e.before,
                   before: e.after, undo_of: target.group, title: e.title });
    }
    const index = this.cards.findIndex((c) => c.id === target.entries[0].shot_id);
    if (index >= 0) this.setFocus(index, true);
    this.repaint();
    this.flush(true);
  }

  setFocus(i, scroll) {
    if (!this.cards.length) return;
    this.focus = Math.max(0, Math.min(i, this.cards.length - 1));
    active = this;
    const card = this.cards[this.focus];
    if (scroll) card.node.scrollIntoView({ block: "nearest" });
    if (this.video && this.clip && this.clip.shot_id !== card.id) this.video.pause();
    this.repaint();
  }

  extendSelection(i) {
    const from = this.anchor ?? this.focus;
    const [a, b] = from <= i ? [from, i] : [i, from];
    for (let k = a; k <= b; k++) this.selection.add(this.cards[k].id);
    this.anchor = from;
    this.setFocus(i, true);
  }

  toggleSelected() {
    const card = this.cards[this.focus];
    if (!card) return;
    if (this.selection.has(card.id)) this.selection.delete(card.id);
    else this.selection.add(card.id);
    this.anchor = this.focus;
    this.repaint();
  }

  columns() {
    if (this.cards.length < 2) return 1;
    const top = this.cards[0].node.offsetTop;
    const n = this.cards.findIndex((c) => c.node.offsetTop !== top);
    return n === -1 ? this.cards.length : n;
  }

  repaint() {
    for (const card of this.cards) this.paint(card);
    this.renderRecent();
    this.renderCounts();
    this.renderSync();
  }

  renderSync() {
    // Plainly: everything is saved, or how many decisions are not (and what is being done).
    if (!this.sync || this.data.read_only) return;
    const n = this.pending.length;
    const state = !n ? "saved" : this.trouble || "saving";
    this.sync.dataset.state = state;
    this.sync.dataset.unsaved = String(n);
    this.sync.textContent = !n ? "✓ saved" : this.trouble ? `${n} unsaved — ${this.trouble}` : `${n} saving …`;
  }

  renderCounts() {
    // The server's counts, moved by the decisions it has not confirmed yet.
    const c = this.data.counts || { positives: 0, negatives: 0, ties: 0 };
    let pos = c.positives, neg = c.negatives;
    for (const d of this.pending) {
      pos += (d.value === true) - (d.before === true);
      neg += (d.value === false) - (d.before === false);
    }
    this.counter.replaceChildren(el("span", "", "Annotated "), el("strong", "va-annotated", String(pos + neg + c.ties)),
      el("span", "va-split", ` · ${pos} positive · ${neg} negative`));
    if (c.need_positives === undefined) return;
    const morePos = Math.max(0, c.need_positives - pos), moreNeg = Math.max(0, c.need_negatives - neg);
    this.progress.className = "va-progress " + (morePos || moreNeg ? "va-locked" : "va-open");
    const more = (n, kind) => `${n} more ${kind}${n === 1 ? "" : "s"}`;
    this.progress.textContent = morePos || moreNeg
      ? `The first build needs ${c.need_positives} positives and ${c.need_negatives} negatives: ` +
        `${more(morePos, "positive")} and ${more(moreNeg, "negative")} to go.`
      : "Enough labels to build a model: Build on Active learning (key B) trains it.";
  }

  toggleHelp() {
    this.help.hidden = !this.help.hidden;
  }

  // -- playback: one live player per grid, for the focused (or double-clicked) card ----------
  togglePlay() {
    const card = this.cards[this.focus];
    if (!card || !card.data.playable) return;
    if (this.video && this.clip && this.clip.shot_id === card.id) {
      if (this.video.paused) this.video.play().catch(() => {});
      else this.video.pause();
      return;
    }
    card.node.classList.add("va-loading");
    this.send("play", card.id);
  }

  setClip(clip) {
    if (!clip) return;
    if (this.clip && this.clip.shot_id === clip.shot_id && this.clip.url === clip.url) return;
    this.stopVideo();
    const card = this.cards.find((c) => c.id === clip.shot_id);
    if (!card) return;
    this.clip = clip;
    const video = el("video", "va-video");
    video.muted = true;
    video.playsInline = true;
    video.preload = "auto";
    video.src = clip.url;
    video.dataset.start = String(clip.start);
    video.dataset.end = String(clip.end);
    // The shot is [start, end): seek to its first frame, loop before the next shot's first.
    video.addEventListener("loadedmetadata", () => {
      video.currentTime = clip.start;
      video.play().catch(() => {});
    });
    const guard = () => {
      if (video.currentTime >= clip.end - 0.5 / (clip.fps || 25)) video.currentTime = clip.start;
      if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(guard);
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(guard);
    else video.addEventListener("timeupdate", guard);
    card.node.classList.remove("va-loading");
    card.node.classList.add("va-playing");
    card.media.append(video);
    this.video = video;
  }

  stopVideo() {
    if (!this.video) return;
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load();
    this.video.closest(".va-card")?.classList.remove("va-playing");
    this.video.remove();
    this.video = null;
    this.clip = null;
  }

  // -- panels ------------------------------------------------------------------------------
  renderMessage(text) {
    this.message.textContent = text || "";
    this.message.classList.toggle("va-error", Boolean(text));
  }

  renderRecent() {
    const groups = this.recentGroups();
    this.recent.replaceChildren();
    if (this.data.read_only || !groups.length) return;
    this.recent.append(el("div", "va-recent-title", "Recent decisions (this session) — u undoes the newest"));
    const list = el("ol");
    for (const { group, entries } of groups.slice(0, 10)) {
      const item = el("li");
      item.dataset.group = String(group);
      const first = entries[0];
      const what = entries.length > 1 ? `${entries.length} shots` : first.title;
      item.append(el("span", "", `${what}: ${WORDS[first.after]}` +
        (entries.length > 1 ? "" : ` (was ${first.before === null ? "unlabelled" : WORDS[first.before]})`)));
      const button = el("button", "va-undo", "Undo");
      button.type = "button";
      button.addEventListener("click", () => this.undo(group));
      item.append(button);
      list.append(item);
    }
    this.recent.append(list);
  }

  // -- keys ------------------------------------------------------------------------------
  onKey(e) {
    const k = e.key;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && (k === "z" || k === "Z")) return this.undo(), true;
    if (mod || e.altKey) return false;
    const cols = this.columns();
    const moves = { ArrowRight: 1, l: 1, j: 1, ArrowLeft: -1, h: -1, k: -1, ArrowDown: cols, ArrowUp: -cols };
    if (k in moves) {
      const to = Math.max(0, Math.min(this.focus + moves[k], this.cards.length - 1));
      if (e.shiftKey && k.startsWith("Arrow")) this.extendSelection(to);
      else this.setFocus(to, true);
      return true;
    }
    const at = e.timeStamp;
    switch (k) {
      case "Home": this.setFocus(0, true); return true;
      case "End": this.setFocus(this.cards.length - 1, true); return true;
      case "p": case "1": this.decide(true, at); return true;
      case "n": case "2": this.decide(false, at); return true;
      case "0": case "Delete": this.decide(null, at); return true;
      case "u": this.undo(); return true;
      case "x": this.toggleSelected(); return true;
      case "Escape": this.selection.clear(); this.repaint(); this.help.hidden = true; return true;
      case " ": this.togglePlay(); return true;
      case "?": this.toggleHelp(); return true;
      default: return false;
    }
  }
}

function activeGrid() {
  if (active && active.visible()) return active;
  for (const grid of instances.values()) if (grid.visible()) return grid;
  return null;
}

function typingIn(e) {
  const target = e.composedPath()[0];
  if (!target || !target.tagName) return false;
  return ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable;
}

if (!window.__vaGridKeys) {
  window.__vaGridKeys = true;
  // Capture phase on window: the grid's keys win over widgets that also use arrows (the
  // tab bar keeps its focus after a click); keys the grid does not use pass on untouched
  // (Streamlit's button shortcuts: B builds, Page Up / Page Down page).
  window.addEventListener("keydown", (e) => {
    if (e.defaultPrevented) return;
    const grid = (window.__vaGridActive || activeGrid)();
    if (typingIn(e)) {
      // Esc leaves the search box (or any field) so the next keys label cards again.
      if (e.key === "Escape" && grid) {
        e.composedPath()[0].blur();
        grid.setFocus(grid.focus, true);
      }
      return;
    }
    if (grid && grid.onKey(e)) {
      e.preventDefault();
      e.stopPropagation();
    }
  }, true);
}
window.__vaGridActive = activeGrid;
window.__vaGridUnsaved = () => pendingIds().size;

if (!window.__vaGridUnload) {
  window.__vaGridUnload = true;
  // Closing or reloading the tab with unsaved decisions asks first (they would still be sent
  // from storage by the next page, but only if the expert comes back).
  window.addEventListener("beforeunload", (e) => {
    if (window.__vaReloading || !window.__vaGridUnsaved()) return;
    e.preventDefault();
    e.returnValue = "";
  });
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let grid = instances.get(data.key);
  if (!grid) {
    grid = new Grid(data.key, parentElement);
    instances.set(data.key, grid);
  }
  grid.mount(parentElement);
  grid.update(data, setTriggerValue);
}
