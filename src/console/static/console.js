// darwaza console: live figures over server-sent events and two small uPlot charts.
// Pages work without this script; it only keeps the overview fresh without reloading.
(function () {
  'use strict';
  var root = document.querySelector('[data-live]');
  if (!root) return;
  var last = {};
  var charts = {};
  var COLORS = ['#0b57a4', '#a40e26', '#116329', '#7a4b00', '#5a2d91', '#00677f'];

  function draw(series) {
    if (!series || !window.uPlot) return;
    ['perMinute', 'depth'].forEach(function (kind) {
      var el = document.getElementById('chart-' + kind);
      if (!el) return;
      var names = Object.keys(series[kind] || {}).sort();
      var data = [series.t].concat(names.map(function (n) { return series[kind][n]; }));
      var key = names.join('|');
      var c = charts[kind];
      if (c && c.key === key) { c.plot.setData(data); return; }
      if (c) c.plot.destroy();
      el.textContent = '';
      var opts = {
        width: Math.max(300, el.clientWidth - 8),
        height: 180,
        series: [{}].concat(names.map(function (n, i) { return { label: n, stroke: COLORS[i % COLORS.length], width: 2 }; })),
        axes: [{}, { size: 50 }],
        scales: { y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      };
      charts[kind] = { key: key, plot: new window.uPlot(opts, data, el) };
    });
  }

  function apply(msg) {
    Object.keys(msg.html || {}).forEach(function (id) {
      var el = document.getElementById(id);
      if (el && last[id] !== msg.html[id]) {
        el.innerHTML = msg.html[id];
        last[id] = msg.html[id];
      }
    });
    draw(msg.chart);
  }

  try { draw(JSON.parse(root.getAttribute('data-chart') || 'null')); } catch (e) { /* no chart yet */ }
  if (!window.EventSource) return;
  var source = new EventSource(root.getAttribute('data-live'));
  source.addEventListener('overview', function (e) { apply(JSON.parse(e.data)); });
  window.addEventListener('pagehide', function () { source.close(); });
})();
