// marketsvc dashboard: charts (uPlot), live updates (SSE), admin actions (JSON + CSRF header).
// Loaded as a file (the page's Content-Security-Policy forbids inline script).
(function () {
  "use strict";
  var snapshot = JSON.parse(document.getElementById("snapshot").textContent);
  var page = document.body.dataset.page;
  var charts = {};
  var TIER_COLORS = { l1: "#2b6cb0", l2: "#2f855a", l3: "#b7791f" };

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, status: r.status, data: data }; });
    });
  }

  function width(el) { return Math.max(260, el.clientWidth || 300); }

  function series(samples) {
    var tiers = {};
    samples.forEach(function (s) { Object.keys(s.hit_rate).forEach(function (t) { tiers[t] = true; }); });
    var tierNames = Object.keys(tiers).sort();
    var xs = samples.map(function (s) { return s.t; });
    return {
      rps: [xs, samples.map(function (s) { return s.rps; })],
      latency: [xs, samples.map(function (s) { return s.p50; }), samples.map(function (s) { return s.p99; })],
      errors: [xs, samples.map(function (s) { return s.error_rate; })],
      hits: [xs].concat(tierNames.map(function (t) {
        return samples.map(function (s) { return s.hit_rate[t] === undefined ? null : s.hit_rate[t]; });
      })),
      tiers: tierNames,
    };
  }

  function makeChart(id, labels, colors, data) {
    var el = document.getElementById(id);
    var opts = {
      width: width(el),
      height: 180,
      series: [{}].concat(labels.map(function (label, i) {
        return { label: label, stroke: colors[i], width: 2, spanGaps: true, points: { show: true, size: 4 } };
      })),
      axes: [{}, { size: 56 }],
      scales: { x: { time: true } },
    };
    var chart = new uPlot(opts, data, el);
    charts[id] = { chart: chart, labels: labels.join("|") };
    return chart;
  }

  function drawCharts(samples) {
    var s = series(samples);
    document.getElementById("charts-empty").hidden = samples.some(function (x) { return x.requests > 0; });
    var specs = [
      ["chart-rps", ["req/s"], ["#2b6cb0"], s.rps],
      ["chart-latency", ["p50", "p99"], ["#2f855a", "#c53030"], s.latency],
      ["chart-errors", ["5xx share"], ["#c53030"], s.errors],
      ["chart-hits", s.tiers, s.tiers.map(function (t) { return TIER_COLORS[t] || "#555"; }), s.hits],
    ];
    specs.forEach(function (spec) {
      var existing = charts[spec[0]];
      if (existing && existing.labels === spec[1].join("|")) {
        existing.chart.setData(spec[3]);
      } else {
        if (existing) { existing.chart.destroy(); }
        document.getElementById(spec[0]).textContent = "";
        makeChart(spec[0], spec[1], spec[2], spec[3]);
      }
    });
  }

  function iso(ts) { return ts ? new Date(ts * 1000).toISOString().replace(/\.\d+Z$/, "Z") : ""; }

  function drawAlerts(alerts) {
    var count = document.getElementById("alert-count");
    count.textContent = String(alerts.active.length);
    count.classList.toggle("bad", alerts.active.length > 0);
    var active = document.getElementById("active-alerts");
    if (active) { active.textContent = String(alerts.active.length); }
    var table = document.getElementById("alerts");
    if (!table) { return; }
    var body = table.querySelector("tbody");
    body.textContent = "";
    alerts.recent.forEach(function (a) {
      var tr = document.createElement("tr");
      tr.dataset.rule = a.rule;
      tr.dataset.state = a.state;
      [a.state, a.rule, a.subject, a.summary, iso(a.raised_at), iso(a.resolved_at)].forEach(function (v, i) {
        var td = document.createElement("td");
        if (i === 0) {
          var b = document.createElement("span");
          b.className = "badge " + (a.state === "firing" ? "bad" : "ok");
          b.textContent = v;
          td.appendChild(b);
        } else {
          td.textContent = v; // textContent: summaries carry provider error text, never HTML
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.hidden = alerts.recent.length === 0;
    document.getElementById("alerts-empty").hidden = alerts.recent.length > 0;
  }

  function render(snap) {
    if (page === "overview") { drawCharts(snap.samples); }
    drawAlerts(snap.alerts);
    document.body.dataset.version = String(snap.version);
  }

  function live() {
    if (!window.EventSource) { return; }
    var state = document.getElementById("live-state");
    var source = new EventSource("/dashboard/events");
    source.addEventListener("open", function () { state.textContent = "connected"; });
    source.addEventListener("error", function () { state.textContent = "reconnecting"; });
    source.addEventListener("snapshot", function (ev) { render(JSON.parse(ev.data)); });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function wireActions() {
    var login = document.getElementById("login-form");
    if (login) {
      login.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var out = document.getElementById("login-result");
        post("/dashboard/login", { token: login.elements.token.value }).then(function (r) {
          login.elements.token.value = "";
          if (r.ok) { window.location.assign("/dashboard"); } else { out.textContent = r.data.detail; }
        });
      });
    }
    var logout = document.getElementById("logout");
    if (logout) {
      logout.addEventListener("click", function () {
        post("/dashboard/logout").then(function () { window.location.assign("/dashboard"); });
      });
    }
    var result = document.getElementById("clear-result");
    function clear(body) {
      post("/dashboard/cache/clear", body).then(function (r) {
        result.textContent = r.ok ? "cleared: " + JSON.stringify(r.data.cleared) : r.data.detail;
      });
    }
    var form = document.getElementById("clear-form");
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        clear({ symbol: form.elements.symbol.value, data_type: form.elements.data_type.value || null });
      });
    }
    document.querySelectorAll("button.clear").forEach(function (b) {
      b.addEventListener("click", function () { clear({ symbol: b.dataset.symbol }); });
    });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      Object.keys(charts).forEach(function (id) {
        charts[id].chart.setSize({ width: width(document.getElementById(id)), height: 180 });
      });
    }, 100);
  });

  render(snapshot);
  wireActions();
  live();
})();
