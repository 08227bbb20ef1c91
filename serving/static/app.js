// The demo page: build a history (a sample user, typed ids, or items found by title),
// then show the cascade /v1/recommend ran: the user's M interests and the candidates
// each nominated, retrieval order beside the final order, and which order the service
// chose (the export's gate, compared on validation users, from /v1/models).
// Text is inserted with textContent only, so ids and titles cannot inject HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const samples = [];
const SEARCH_LIMIT = 12;
const SHOWN_PER_INTEREST = 5;
const PALETTE = 8;  // interest colours in style.css: .i0 .. .i7
const ORDER_NOTES = {
  ranking: "by the ranking model's score",
  retrieval: "by retrieval score: the ranking model's order is not used (the export's gate found it "
    + "no better on validation users, or `funnel serve --order retrieval`)",
  popularity: "the most popular items: no history item is known, so there are no interests",
};
let interestsTotal = null;  // M, from the manifest's catalog entry
let searchTimer = null;
let searchSeq = 0;

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function interestTag(m) {
  const tag = element("span", m + 1, `tag i${m % PALETTE}`);
  tag.title = `interest ${m + 1} (index ${m})`;
  return tag;
}

function orderBadge(order) {
  return element("span", order, `order order-${order}`);
}

function cell(value, kind) {
  if (kind === "interest") {
    const td = element("td");
    if (typeof value === "number") td.appendChild(interestTag(value));
    return td;
  }
  if (kind === "num") return element("td", typeof value === "number" ? value.toFixed(4) : "", "num");
  // A score is a probability over the candidates: 4 significant digits (scientific when tiny).
  if (kind === "score") return element("td", typeof value === "number" ? value.toPrecision(4) : "", "num");
  if (kind === "int") return element("td", value, "num");
  return element("td", value, kind === "title" ? "title-col" : "");
}

// columns: [key or function of the row, kind ("num", "int", "title", "interest" or none)]
function fill(tableId, rows, columns, rowClass) {
  $(tableId).querySelector("tbody").replaceChildren(...rows.map((row) => {
    const tr = element("tr", null, rowClass ? rowClass(row) : "");
    for (const [key, kind] of columns) tr.appendChild(cell(typeof key === "function" ? key(row) : row[key], kind));
    return tr;
  }));
}

function parseHistory(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter((s) => s.length > 0);
}

// ------------------------------------------------------------ start-up
function showModels(models) {
  const active = models.active;
  if (!active) return;
  $("versions").textContent = `export version ${active.version}, backend ${models.backend}`;
  interestsTotal = (active.catalog || {}).interests || null;
  if (active.gate && active.gate.candidates) $("candidates").value = active.gate.candidates;  // what the gate measured
  showGate(active.gate, active.order);
}

function showGate(gate, served) {
  const line = $("gate-order");
  if (!gate) {
    line.replaceChildren("Answers follow ", orderBadge(served), " order.");
    $("gate-note").textContent = "This export has no gate: `funnel export --data` compares both orders "
      + "on validation users and lets the better one serve.";
    return;
  }
  line.replaceChildren("The export's gate chose ", orderBadge(gate.order),
                       ` order, comparing both orders of the same candidates on ${gate.examples} validation users.`);
  if (served !== gate.order) {
    line.append(" This service overrides it (`funnel serve --order`): answers follow ", orderBadge(served), " order.");
  }
  const rows = [["retrieval order", "retrieval", gate.retrieval], ["ranking order", "ranking", gate.funnel]];
  fill("gate-table", rows.map(([label, order, figures]) => ({
    label, order, hr: figures["hr@10"], ndcg: figures["ndcg@10"],
  })), [["label"], ["hr", "num"], ["ndcg", "num"]], (row) => (row.order === gate.order ? "chosen" : ""));
  $("gate-table").hidden = false;
  if (typeof gate.candidate_recall === "number") {
    $("gate-note").textContent = `Candidate recall ${gate.candidate_recall.toFixed(4)} with ${gate.candidates} `
      + "candidates: the ceiling of both orders.";
  }
}

function showSamples(data) {
  // Titles exist for MovieLens; a synthetic catalog has none, so hide the column.
  if (!data.has_titles) document.body.classList.add("no-titles");
  for (const [i, user] of data.users.entries()) {
    samples.push(user);
    const option = element("option", user.label);
    option.value = String(i);
    $("sample").appendChild(option);
  }
}

async function init() {
  const [sampleResponse, modelResponse] = await Promise.all([fetch("/v1/samples"), fetch("/v1/models")]);
  if (modelResponse.ok) showModels(await modelResponse.json());
  if (sampleResponse.ok) showSamples(await sampleResponse.json());
  document.body.dataset.loaded = "true";
}

function pickSample() {
  const user = samples[Number($("sample").value)];
  if ($("sample").value === "" || !user) return;
  $("history").value = user.history.join(", ");
  $("user").value = user.user_id || "";
}

// ------------------------------------------------------------ search
async function runSearch() {
  const q = $("search-box").value.trim();
  const seq = ++searchSeq;
  if (!q) {
    $("search-results").replaceChildren();
    $("search-status").textContent = "";
    return;
  }
  const response = await fetch(`/v1/items?${new URLSearchParams({ q, limit: String(SEARCH_LIMIT) })}`);
  const data = await response.json();
  if (seq !== searchSeq) return;  // a newer query is on its way
  if (!response.ok) {
    $("search-results").replaceChildren();
    $("search-status").textContent = `error ${response.status}: ${data.error}`;
    return;
  }
  const shown = data.items.length;
  $("search-status").textContent = data.matches === 0 ? "no match"
    : `${data.matches > shown ? `first ${shown} of ${data.matches}` : data.matches} `
      + `match${data.matches === 1 ? "" : "es"}: click one to add it`;
  $("search-results").replaceChildren(...data.items.map((item) => {
    const button = element("button", item.title || item.item_id);
    button.type = "button";
    button.dataset.item = item.item_id;
    if (item.title) button.appendChild(element("span", item.item_id, "muted id"));
    button.addEventListener("click", () => addToHistory(item));
    const li = element("li");
    li.appendChild(button);
    return li;
  }));
}

function addToHistory(item) {
  $("history").value = [...parseHistory($("history").value), item.item_id].join(", ");
  $("search-status").textContent = `added ${item.title ? `${item.title} (${item.item_id})` : item.item_id}`;
}

function searchSoon(delay) {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => runSearch().catch((error) => {
    $("search-status").textContent = `search failed: ${error}`;
  }), delay);
}

// ------------------------------------------------------------ the answer
function showInterests(candidates, final, fallback) {
  const box = $("interests");
  if (fallback) {
    $("interest-count").textContent = "";
    box.replaceChildren(element("p", "None: no history item is known.", "muted"));
    return;
  }
  const count = Math.max(interestsTotal || 0, ...candidates.map((c) => c.interest + 1));
  const nominated = Array.from({ length: count }, () => []);
  candidates.forEach((c, i) => nominated[c.interest].push({ ...c, position: i + 1 }));
  $("interest-count").textContent = `(M = ${count})`;
  box.replaceChildren(...nominated.map((group, m) => {
    const card = element("div", null, `interest i${m % PALETTE}`);
    card.dataset.interest = String(m);
    const kept = group.filter((c) => final.has(c.item_id)).length;
    const heading = element("h3");
    heading.append(interestTag(m), ` interest ${m + 1}`);
    const summary = element("p", null, "muted");
    summary.append("nominated ", element("span", group.length, "count"),
                   ` of ${candidates.length} candidates, ${kept} in the final list`);
    const list = element("ol");
    for (const c of group.slice(0, SHOWN_PER_INTEREST)) {
      const li = element("li", c.title || c.item_id, final.has(c.item_id) ? "chosen" : "");
      li.appendChild(element("span", `${c.title ? `${c.item_id} ` : ""}#${c.position}`, "muted id"));
      list.appendChild(li);
    }
    card.append(heading, summary, list);
    if (group.length > SHOWN_PER_INTEREST) {
      card.appendChild(element("p", `and ${group.length - SHOWN_PER_INTEREST} more`, "muted"));
    }
    return card;
  }));
}

function showAnswer(data) {
  $("cascade").hidden = false;
  const versions = Object.entries(data.model_versions).map(([k, v]) => `${k} v${v}`).join(", ");
  $("status").textContent = `${data.items.length} items in ${data.took_ms.toFixed(1)} ms (${versions})`;
  if (data.fallback) {
    const flag = element("span", " fallback: most popular items", "fallback");
    flag.id = "fallback-flag";
    $("status").appendChild(flag);
  }
  $("warnings").replaceChildren(...data.warnings.map((w) => element("li", w)));
  fill("history-table", data.history || [], [["item_id"], ["title", "title"], [(h) => (h.known ? "yes" : "unknown")]]);

  const candidates = data.candidates || [];
  const position = new Map(candidates.map((c, i) => [c.item_id, i]));
  const final = new Set(data.items.map((item) => item.item_id));
  showInterests(candidates, final, data.fallback);
  $("candidate-count").textContent = `(${candidates.length})`;
  $("candidate-note").textContent = data.fallback ? "Nothing retrieved: the most popular items, by their share."
    : "The candidates by retrieval score (eq. 4).";
  fill("candidate-table", candidates.map((c, i) => ({ ...c, n: i + 1 })),
       [["n"], ["item_id"], ["title", "title"], ["interest", "interest"], ["retrieval_score", "num"], ["score", "score"]],
       (c) => (final.has(c.item_id) ? "chosen" : ""));
  $("order").replaceChildren(orderBadge(data.order));
  $("order-note").textContent = ORDER_NOTES[data.order] || "";
  fill("ranking-table", data.items.map((item) => {
    const i = position.get(item.item_id);
    return { ...item, interest: i === undefined ? null : candidates[i].interest, was: i === undefined ? "" : i + 1 };
  }), [["rank"], ["item_id"], ["title", "title"], ["interest", "interest"], ["score", "score"],
       ["retrieval_score", "num"], ["was", "int"]]);
}

async function recommend(event) {
  event.preventDefault();
  const body = {
    history: parseHistory($("history").value),
    k: Number($("k").value),
    candidates: Number($("candidates").value),
    exclude_history: $("exclude").checked,
    explain: true,
  };
  const user = $("user").value.trim();
  if (user) body.user_id = user;
  $("status").className = "";
  $("status").textContent = "asking…";
  const response = await fetch("/v1/recommend", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) {
    $("status").className = "error";
    $("status").textContent = `error ${response.status}: ${data.error || JSON.stringify(data)}`;
    return;
  }
  showAnswer(data);
}

$("sample").addEventListener("change", pickSample);
$("query").addEventListener("submit", (event) => {
  recommend(event).catch((error) => {
    $("status").className = "error";
    $("status").textContent = `request failed: ${error}`;
  });
});
$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  searchSoon(0);
});
$("search-box").addEventListener("input", () => searchSoon(150));
init();
