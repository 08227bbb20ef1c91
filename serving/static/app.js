// The demo page: pick a sample user or type item ids, then show the history,
// the retrieved candidates and the final ranking returned by /v1/recommend.
// Text is inserted with textContent only, so ids and titles cannot inject HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const samples = [];

function cell(row, text, numeric, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  td.className = [numeric ? "num" : "", className || ""].join(" ").trim();
  row.appendChild(td);
}

function fill(tableId, rows, columns) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren();
  for (const item of rows) {
    const tr = document.createElement("tr");
    for (const [key, numeric] of columns) {
      const value = typeof key === "function" ? key(item) : item[key];
      cell(tr, numeric && typeof value === "number" ? value.toFixed(4) : value, numeric,
           key === "title" ? "title-col" : "");
    }
    body.appendChild(tr);
  }
}

function parseHistory(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter((s) => s.length > 0);
}

async function loadSamples() {
  const response = await fetch("/v1/samples");
  if (!response.ok) return;
  const data = await response.json();
  // Titles exist for MovieLens; a synthetic catalog has none, so hide the column.
  if (!data.has_titles) document.body.classList.add("no-titles");
  for (const [i, user] of data.users.entries()) {
    samples.push(user);
    const option = document.createElement("option");
    option.value = String(i);
    option.textContent = user.label;
    $("sample").appendChild(option);
  }
  const models = await (await fetch("/v1/models")).json();
  if (models.active) $("versions").textContent = `export version ${models.active.version}, backend ${models.backend}`;
}

function pickSample() {
  const user = samples[Number($("sample").value)];
  if ($("sample").value === "" || !user) return;
  $("history").value = user.history.join(", ");
  $("user").value = user.user_id || "";
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
  const versions = Object.entries(data.model_versions).map(([k, v]) => `${k} v${v}`).join(", ");
  $("status").textContent = `${data.items.length} items in ${data.took_ms.toFixed(1)} ms (${versions})`;
  if (data.fallback) {
    const flag = document.createElement("span");
    flag.className = "fallback";
    flag.id = "fallback-flag";
    flag.textContent = " fallback: most popular items";
    $("status").appendChild(flag);
  }
  $("warnings").replaceChildren(...data.warnings.map((w) => {
    const li = document.createElement("li");
    li.textContent = w;
    return li;
  }));
  fill("history-table", data.history || [], [["item_id"], ["title"], [(h) => (h.known ? "yes" : "unknown")]]);
  const candidates = data.candidates || [];
  $("candidate-count").textContent = `(${candidates.length})`;
  fill("candidate-table", candidates.map((c, i) => ({ ...c, n: i + 1 })),
       [["n"], ["item_id"], ["title"], ["retrieval_score", true]]);
  fill("ranking-table", data.items, [["rank"], ["item_id"], ["title"], ["score", true], ["retrieval_score", true]]);
}

$("sample").addEventListener("change", pickSample);
$("query").addEventListener("submit", (event) => {
  recommend(event).catch((error) => {
    $("status").className = "error";
    $("status").textContent = `request failed: ${error}`;
  });
});
loadSamples();
