// Live incident list: every 5 s, re-read /api/v1/incidents with the page's filters and
// rebuild the table body. Text goes in through textContent, never innerHTML, so titles
// from the outside world cannot inject markup.
(function () {
  "use strict";
  var table = document.getElementById("incidents");
  if (!table) return;
  var status = document.getElementById("live-status");
  var body = table.querySelector("tbody");
  var PERIOD_MS = 5000;

  function query() {
    var here = new URLSearchParams(window.location.search);
    var out = new URLSearchParams();
    ["status", "service", "severity"].forEach(function (k) {
      var v = here.get(k);
      if (v) out.set(k, v);
    });
    out.set("limit", "200");
    return out.toString();
  }

  function cell(row, child) {
    var td = document.createElement("td");
    if (child) td.appendChild(child);
    row.appendChild(td);
    return td;
  }

  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function row(i) {
    var tr = document.createElement("tr");
    cell(tr, span("badge sev-" + i.severity, i.severity));
    var link = document.createElement("a");
    link.href = "/incidents/" + encodeURIComponent(i.id);
    link.textContent = i.title;
    var td = cell(tr, link);
    var id = document.createElement("div");
    id.className = "muted small";
    id.textContent = i.id;
    td.appendChild(id);
    cell(tr, span("status st-" + i.status, i.status.replace(/_/g, " ")));
    cell(tr, document.createTextNode(i.services.join(", ")));
    var t = document.createElement("time");
    t.dateTime = i.detected_at;
    t.textContent = i.detected_at.replace("T", " ").slice(0, 16) + "Z";
    cell(tr, t);
    return tr;
  }

  function render(list) {
    var rows = document.createDocumentFragment();
    list.forEach(function (i) { rows.appendChild(row(i)); });
    if (!list.length) {
      var tr = document.createElement("tr");
      var td = cell(tr, document.createTextNode("No incidents match."));
      td.colSpan = 5;
      td.className = "muted";
      rows.appendChild(tr);
    }
    body.replaceChildren(rows);
  }

  function refresh() {
    fetch(table.dataset.live + "?" + query(), {credentials: "same-origin",
                                               headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (list) {
        render(list);
        if (status) status.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
      })
      .catch(function (e) {
        if (status) status.textContent = "Live update failed (" + e.message + "); retrying.";
      })
      .finally(function () { window.setTimeout(refresh, PERIOD_MS); });
  }

  window.setTimeout(refresh, PERIOD_MS);
})();
