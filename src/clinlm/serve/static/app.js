// clinlm serve's page: paste a note, see its concepts. No external resources; the note goes only to
// this server. Offsets from the API count code points (Python string indices): the text is split
// with Array.from() so a character beyond U+FFFF is one position, as on the server.
"use strict";

const FLAGS = [["negated", "NEG"], ["uncertain", "POSS"], ["family", "FAM"], ["historical", "HIST"],
               ["hypothetical", "HYP"], ["conditional", "COND"]];
const COLOURS = 12;
const state = { labels: [], result: null, text: "", rows: [], sortKey: "start", sortUp: true };

const $ = (sel) => document.querySelector(sel);

function headers() {
  const h = { "Content-Type": "application/json" };
  const token = $("#token").value.trim();
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

function colourOf(label) {
  let i = state.labels.indexOf(label);
  if (i < 0) {
    i = 0;
    for (const ch of label) i = (i * 31 + ch.codePointAt(0)) >>> 0;
  }
  return "c" + (i % COLOURS);
}

function flagsOf(entity) {
  const a = entity.attributes || {};
  return FLAGS.filter(([key]) => a[key] === true).map(([, short]) => short);
}

function conceptOf(entity) {
  // the best linked concept (--link), as "vocabulary:id name"
  const c = ((entity.attributes || {}).concepts || [])[0];
  return c ? `${c.vocab}:${c.id} ${c.name}` : "";
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

async function loadInfo() {
  try {
    const r = await fetch("/v1/info", { headers: headers() });
    if (r.status === 401) {
      $("#model-line").textContent = "This server needs a bearer token: enter it below.";
      return;
    }
    const info = await r.json();
    state.labels = info.labels.map((l) => l.label);
    $("#model-line").textContent =
      `Model ${info.model} · clinlm ${info.version} · ${info.labels.length} concept types` +
      (info.ready ? "" : " · warming up");
  } catch (e) {
    $("#model-line").textContent = "Cannot reach the server.";
  }
}

async function annotate() {
  const text = $("#note").value;
  showError("");
  $("#status").textContent = "Annotating…";
  $("#annotate").disabled = true;
  const started = performance.now();
  try {
    const r = await fetch("/v1/annotate", { method: "POST", headers: headers(), body: JSON.stringify({ text }) });
    const body = await r.json();
    if (!r.ok) {
      const err = body.error || { code: "error", message: r.statusText };
      showError(`${r.status} ${err.code}: ${err.message}`);
      $("#status").textContent = "";
      return;
    }
    state.result = body;
    state.text = text;
    render(text, body, performance.now() - started);
    $("#status").textContent = `Found ${body.entities.length} concepts.`;
  } catch (e) {
    showError("The request failed: " + e.message);
    $("#status").textContent = "";
  } finally {
    $("#annotate").disabled = false;
  }
}

function render(text, doc, roundTrip) {
  if (state.labels.length === 0) state.labels = [...new Set(doc.entities.map((e) => e.label))].sort();
  $("#result").hidden = false;
  $("#summary").textContent =
    `${doc.entities.length} concepts in ${doc.characters} characters · model ${doc.model} (clinlm ${doc.version}) · ` +
    `server ${doc.elapsed_ms.toFixed(0)} ms · round trip ${roundTrip.toFixed(0)} ms`;
  renderLegend(doc);
  renderNote(text, doc);
  state.rows = doc.entities.map((e) => ({
    start: e.start, end: e.end, text: e.text, label: e.label, label_name: e.label_name,
    assertion: (e.attributes || {}).assertion || "", flags: flagsOf(e).join(" "),
    section: (e.attributes || {}).section || "", score: e.score, concept: conceptOf(e),
  }));
  renderTable();
}

function renderLegend(doc) {
  const legend = $("#legend");
  legend.textContent = "";
  const seen = new Map();
  for (const e of doc.entities) seen.set(e.label, e.label_name);
  for (const [label, name] of [...seen].sort()) {
    const item = document.createElement("span");
    item.className = "legend-item " + colourOf(label);
    item.textContent = `${label} ${name}`;
    legend.appendChild(item);
  }
}

function blocksOf(length, sections) {
  const blocks = [];
  let pos = 0;
  for (const s of [...sections].sort((a, b) => a.start - b.start)) {
    if (s.start > pos) blocks.push({ start: pos, end: s.start, section: null });
    blocks.push({ start: Math.max(s.start, pos), end: s.end, section: s });
    pos = Math.max(pos, s.end);
  }
  if (pos < length || blocks.length === 0) blocks.push({ start: pos, end: length, section: null });
  return blocks;
}

function renderNote(text, doc) {
  const cps = Array.from(text);
  const slice = (a, b) => cps.slice(a, b).join("");
  const view = $("#annotated");
  view.textContent = "";
  const entities = [...doc.entities].sort((a, b) => a.start - b.start || b.end - a.end);
  let next = 0;  // index into entities
  let cursor = 0;  // next character to draw
  for (const block of blocksOf(cps.length, doc.sections || [])) {
    const band = document.createElement("div");
    band.className = "band" + (block.section ? " section" : "");
    if (block.section) {
      const caption = document.createElement("div");
      caption.className = "band-caption";
      caption.textContent = `${block.section.category || "section"} — ${block.section.name}`;
      band.appendChild(caption);
    }
    const body = document.createElement("div");
    body.className = "band-text";
    band.appendChild(body);
    view.appendChild(band);
    cursor = Math.max(cursor, block.start);
    while (next < entities.length && entities[next].start < block.end) {
      const e = entities[next++];
      if (e.start < cursor) continue;  // overlaps one already drawn: it is in the table
      if (e.start > cursor) body.appendChild(document.createTextNode(slice(cursor, e.start)));
      body.appendChild(markOf(e, slice(e.start, e.end)));
      cursor = e.end;
    }
    if (cursor < block.end) {
      body.appendChild(document.createTextNode(slice(cursor, block.end)));
      cursor = block.end;
    }
  }
}

function markOf(e, text) {
  const a = e.attributes || {};
  const mark = document.createElement("mark");
  const flags = flagsOf(e);
  mark.className = ["ent", colourOf(e.label), ...flags.map((f) => "flag-" + f.toLowerCase())].join(" ");
  mark.dataset.start = e.start;
  mark.dataset.end = e.end;
  mark.dataset.label = e.label;
  mark.title = `${e.label_name} (${e.label})` + (a.assertion ? `, ${a.assertion}` : "") +
    (a.section ? `, section ${a.section}` : "") + (e.score != null ? `, score ${e.score.toFixed(2)}` : "");
  const span = document.createElement("span");
  span.className = "ent-text";
  span.textContent = text;
  const tag = document.createElement("sup");
  tag.className = "ent-tag";
  tag.textContent = [e.label, ...flags].join(" ");
  mark.append(span, tag);
  return mark;
}

function renderTable() {
  const key = state.sortKey;
  const dir = state.sortUp ? 1 : -1;
  const rows = [...state.rows].sort((a, b) => {
    const x = a[key], y = b[key];
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return (c || a.start - b.start) * dir;
  });
  const tbody = $("#entities tbody");
  tbody.textContent = "";
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const k of ["start", "end", "text", "label", "label_name", "assertion", "flags", "section", "score", "concept"]) {
      const td = document.createElement("td");
      td.textContent = k === "score" ? (r.score == null ? "" : r.score.toFixed(2)) : String(r[k]);
      td.dataset.key = k;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  for (const th of document.querySelectorAll("#entities th")) {
    const k = th.querySelector("button").dataset.key;
    if (k === key) th.setAttribute("aria-sort", state.sortUp ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
}

function download(name, type, content) {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function csv() {
  const keys = ["start", "end", "text", "label", "label_name", "assertion", "flags", "section", "score", "concept"];
  const cell = (v) => {
    const s = v == null ? "" : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return [keys.join(","), ...state.rows.map((r) => keys.map((k) => cell(r[k])).join(","))].join("\r\n") + "\r\n";
}

document.addEventListener("DOMContentLoaded", () => {
  $("#annotate").addEventListener("click", annotate);
  $("#note").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      annotate();
    }
  });
  $("#file").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (file) $("#note").value = await file.text();
  });
  $("#token").addEventListener("change", loadInfo);
  for (const button of document.querySelectorAll("#entities th button")) {
    button.addEventListener("click", () => {
      const key = button.dataset.key;
      state.sortUp = state.sortKey === key ? !state.sortUp : true;
      state.sortKey = key;
      renderTable();
    });
  }
  $("#download-json").addEventListener("click", () => {
    const doc = { ...state.result, text: state.text };
    download("clinlm-annotations.json", "application/json", JSON.stringify(doc, null, 2));
  });
  $("#download-csv").addEventListener("click", () => download("clinlm-annotations.csv", "text/csv", csv()));
  loadInfo();
});
