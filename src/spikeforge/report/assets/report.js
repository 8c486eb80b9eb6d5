// spikeforge report: tooltips for [data-tip] elements, sortable tables, every section open to print.
(function () {
  "use strict";
  var tip = document.getElementById("tip");
  function place(ev) {
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth) { x = ev.clientX - w - 10; }
    if (y + h > window.innerHeight) { y = ev.clientY - h - 10; }
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  document.addEventListener("mouseover", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-tip]") : null;
    if (!el) { tip.hidden = true; return; }
    tip.textContent = el.getAttribute("data-tip");
    tip.hidden = false;
    place(ev);
  });
  document.addEventListener("mousemove", function (ev) { if (!tip.hidden) { place(ev); } });
  function key(cell) {
    var v = cell.getAttribute("data-value");
    if (v !== null) { var n = parseFloat(v); if (!isNaN(n)) { return n; } }
    return cell.textContent;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.title = "sort";
      th.addEventListener("click", function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var dir = th.getAttribute("data-dir") === "asc" ? -1 : 1;
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          if (typeof x === "number" && typeof y === "number") { return dir * (x - y); }
          return dir * String(x).localeCompare(String(y), undefined, {numeric: true});
        });
        th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
}());
