/* driftgate dashboard: draws the model page's charts (uPlot) from its charts.json and redraws them. */
(function () {
  "use strict";
  var COLORS = ["#2f6fde", "#e07b39", "#3a9d5d", "#8e5bd1", "#c94a6a", "#4b8a99"];
  var charts = [];

  var last = null;

  function width(el) { return Math.max(240, Math.min((el.clientWidth || 400) - 4, 640)); }

  function box(parent, title) {
    var div = document.createElement("div");
    div.className = "chart";
    var h = document.createElement("h3");
    h.textContent = title;
    div.appendChild(h);
    parent.appendChild(div);
    return div;
  }

  function plot(parent, title, opts, data) {
    var div = box(parent, title);
    opts.width = width(div);
    opts.height = opts.height || 220;
    charts.push(new uPlot(opts, data, div));
  }

  function scoreCharts(el, scores) {
    scores.forEach(function (s) {
      if (!s.edges.length) { return; }
      // bins: NaN, below the first edge, the inner bins, above the last edge; plotted at their index
      var n = s.reference.length;
      var xs = [], labels = [];
      for (var i = 0; i < n; i++) {
        xs.push(i);
        if (i === 0) { labels.push("NaN"); }
        else if (i === 1) { labels.push("<" + s.edges[0].toFixed(2)); }
        else if (i === n - 1) { labels.push(">" + s.edges[s.edges.length - 1].toFixed(2)); }
        else { labels.push(s.edges[i - 2].toFixed(2)); }
      }
      var live = s.live.length ? s.live : xs.map(function () { return null; });
      var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.4, 40] }) : null;
      plot(el, "v" + s.version + " score (" + s.rows + " live rows)", {
        scales: { x: { time: false } },
        axes: [{ values: function (u, ticks) { return ticks.map(function (t) { return labels[t] || ""; }); } },
               { values: function (u, ticks) { return ticks.map(function (t) { return (100 * t).toFixed(0) + "%"; }); } }],
        series: [{ label: "bin" },
                 { label: "reference", stroke: "#8a93a3", fill: "rgba(138,147,163,0.35)", paths: bars },
                 { label: "live", stroke: COLORS[0], fill: "rgba(47,111,222,0.35)", paths: bars }],
      }, [xs, s.reference, live]);
    });
  }

  function accuracyCharts(el, acc) {
    if (!acc.times.length) {
      var p = document.createElement("p");
      p.className = "muted";
      p.textContent = "No labelled rows yet: labels arrive with `driftgate feedback`.";
      el.appendChild(p);
      return;
    }
    var auc = [{}], labelled = [{}], aucData = [acc.times], countData = [acc.times];
    acc.versions.forEach(function (v, i) {
      var c = COLORS[i % COLORS.length];
      auc.push({ label: "v" + v + " AUC", stroke: c, width: 2, spanGaps: true, points: { show: true } });
      labelled.push({ label: "v" + v + " labelled", stroke: c, width: 2 });
      aucData.push(acc.auc[String(v)]);
      countData.push(acc.labelled[String(v)]);
    });
    plot(el, "AUC over time", { series: auc, scales: { y: { range: [0.4, 1] } } }, aucData);
    plot(el, "Labelled rows over time", { series: labelled }, countData);
    acc.versions.forEach(function (v, i) {
      var cal = acc.calibration[String(v)];
      if (!cal || !cal.predicted.length) { return; }
      plot(el, "v" + v + " calibration: observed fraud rate against mean score", {
        scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
        series: [{ label: "mean score" },
                 { label: "observed", stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 7 } },
                 { label: "ideal", stroke: "#b0b6c2", dash: [4, 4], points: { show: false } }],
      }, [cal.predicted, cal.observed, cal.predicted]);
    });
  }

  function trafficCharts(el, t) {
    if (!t || !t.times.length) {
      var p = document.createElement("p");
      p.className = "muted";
      p.textContent = "No traffic statistics yet.";
      el.appendChild(p);
      return;
    }
    ["rps", "p99_ms", "p50_ms"].forEach(function (key) {
      var series = [{}], data = [t.times];
      t.versions.forEach(function (v, i) {
        series.push({ label: "v" + v, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: key !== "rps" });
        data.push(t[key][String(v)]);
      });
      var title = { rps: "Requests per second", p99_ms: "p99 latency (ms)", p50_ms: "p50 latency (ms)" }[key];
      plot(el, title, { series: series }, data);
    });
  }

  function draw(data) {
    last = data;
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    var s = document.getElementById("score-charts"), a = document.getElementById("accuracy-charts");
    var t = document.getElementById("traffic-charts");
    s.replaceChildren();
    a.replaceChildren();
    t.replaceChildren();
    trafficCharts(t, data.traffic);
    scoreCharts(s, data.scores || []);
    accuracyCharts(a, data.accuracy || { times: [] });
    document.body.setAttribute("data-charts-drawn", String(Date.now()));
  }

  function load(url) {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(draw)
      .catch(function (e) { console.warn("charts:", e); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("score-charts");
    if (!el || typeof uPlot === "undefined") { return; }
    var url = el.getAttribute("data-charts");
    var every = parseInt(el.getAttribute("data-refresh") || "5", 10) * 1000;
    load(url);
    setInterval(function () { if (!document.hidden) { load(url); } }, every);
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () { if (last) { draw(last); } }, 150);
    });
  });
})();
