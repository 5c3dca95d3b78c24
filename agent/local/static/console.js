// Lentera crew console: tap a light to act on it, refresh the view in place. No libraries.
(function () {
  "use strict";
  var csrf = document.querySelector("meta[name=csrf]").content;
  var view = document.getElementById("view");
  var act = document.getElementById("act");
  var selected = [];
  var group = null;

  function $(sel) { return document.querySelector(sel); }
  var said = document.getElementById("act-msg");
  var W = said ? JSON.parse(said.dataset.words) : {};

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  // What happened, light by light, in the page's language: "L-003: refused, relay protection,
  // try again in 24 s"; "L-001, L-002: switched off for 10 min".
  function worded(res, form) {
    var sel = form.elements.hold_s, hold = sel.options[sel.selectedIndex].text;
    var done = fill(W["res_" + res.op] || res.op, {dim: form.elements.dim.value});
    if (res.op !== "release") { done += " " + fill(W.res_for, {hold: hold}); }
    var lines = res.applied.length ? [res.applied.join(", ") + ": " + done] : [];
    Object.keys(res.refused || {}).forEach(function (k) {
      var wait = /try again in (\d+) s/.exec(res.refused[k]);
      lines.push(k + ": " + W.res_refused + ", " + (wait ? fill(W.res_relay, {s: wait[1]}) : res.refused[k]));
    });
    Object.keys(res.errors || {}).forEach(function (k) {
      lines.push(k + ": " + W.res_failed + ", " + res.errors[k]);
    });
    return lines.join("\n");
  }

  function mark() {
    document.querySelectorAll("[data-l]").forEach(function (el) {
      el.classList.toggle("sel", selected.indexOf(el.dataset.l) >= 0);
    });
    // the map's ring goes around a pole, so the pole keeps its state colour
    document.querySelectorAll("[data-ring]").forEach(function (el) {
      el.classList.toggle("sel", selected.indexOf(el.dataset.ring) >= 0);
    });
  }

  function openFor(ids, grp) {
    if (!act) { return; }
    selected = ids; group = grp || null;
    var form = $("#act-form");
    form.elements.devices.value = grp ? "" : ids.join(",");
    form.elements.group.value = grp || "";
    $("#act-what").textContent = grp ? grp : (ids.length === 1 ? ids[0] : ids.length + " " + W.selected);
    $("#act-msg").textContent = "";
    act.hidden = ids.length === 0 && !grp;
    clearOfSheet(ids);
    mark();
  }

  // The sheet covers the bottom of the screen: the page gets that much room below its last
  // light, and a tapped light that would sit under the sheet scrolls up above it.
  function clearOfSheet(ids) {
    var open = act && !act.hidden;
    document.body.style.paddingBottom = open ? (act.offsetHeight + 8) + "px" : "";
    if (!open || ids.length === 0) { return; }
    var el = document.querySelector('#view [data-l="' + CSS.escape(ids[ids.length - 1]) + '"]');
    if (!el) { return; }
    var below = el.getBoundingClientRect().bottom - act.getBoundingClientRect().top + 8;
    if (below > 0) { window.scrollBy(0, below); }
  }

  document.addEventListener("click", function (e) {
    var grpBtn = e.target.closest(".act-group");
    if (grpBtn) { openFor([], grpBtn.dataset.group); return; }
    var pole = e.target.closest("#view [data-l]");
    if (!pole) { return; }
    var id = pole.dataset.l, many = $("#many");
    if (many && many.checked) {
      var i = selected.indexOf(id);
      if (i >= 0) { selected.splice(i, 1); } else { selected.push(id); }
      openFor(selected.slice());
    } else {
      openFor([id]);
    }
  });

  document.addEventListener("change", function (e) {
    if (e.target.id === "group") {
      location.href = "/" + (e.target.value ? "?group=" + encodeURIComponent(e.target.value) : "");
    } else if (e.target.id === "of") {
      location.href = "/plots?of=" + encodeURIComponent(e.target.value);
    }
  });

  if (act) {
    $("#act-close").addEventListener("click", function () { openFor([]); });
    $("#act-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var body = new URLSearchParams(new FormData(e.target));
      body.set("op", e.submitter ? e.submitter.value : "on");
      var msg = $("#act-msg");
      msg.textContent = "\u2026";
      fetch("/api/action", {method: "POST", body: body, credentials: "same-origin",
                            headers: {"X-CSRF-Token": csrf}})
        .then(function (r) { return r.json().catch(function () { return {error: r.statusText}; }); })
        .then(function (res) {
          if (res.error) { msg.textContent = res.error; msg.className = "err"; return; }
          msg.textContent = worded(res, e.target);
          msg.className = res.ok ? "ok" : "err";
          refresh();
        });
    });
  }

  function refresh() {
    var frag = view.dataset.frag;
    if (!frag || document.hidden) { return Promise.resolve(); }   // a pocketed phone costs nothing
    return fetch(frag, {credentials: "same-origin"}).then(function (r) {
      if (r.status === 401) { location.href = "/login"; return null; }
      return r.json();
    }).then(function (data) {
      if (!data) { return; }
      var keep = document.activeElement && view.contains(document.activeElement) &&
                 document.activeElement.tagName === "SELECT";
      if (!keep) { view.innerHTML = data.body; }
      var summary = document.querySelector(".summary");
      if (summary) { summary.outerHTML = data.header; }
      var many = $("#many");
      if (many) { many.checked = window.sessionStorage.getItem("many") === "1"; }
      mark();
      document.body.dataset.refreshed = String(Date.now());
    }).catch(function () { /* the next refresh tries again */ });
  }

  document.addEventListener("change", function (e) {
    if (e.target.id === "many") { window.sessionStorage.setItem("many", e.target.checked ? "1" : "0"); }
  });
  var every = parseFloat(view.dataset.refresh || "5") * 1000;
  if (view.dataset.frag) { setInterval(refresh, every); }
  window.lenteraRefresh = refresh;
}());
