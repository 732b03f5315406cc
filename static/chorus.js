// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  var exitLink = document.getElementById("quick-exit");
  function leave() {
    // Blank the page first so nothing stays on screen while the next site loads.
    document.body.innerHTML = "";
    document.title = "";
    // Straight to /exit (a redirect to the exit site): the page left behind was emptied above. The
    // link's own target, /leave, is the way without JavaScript.
    window.location.replace("/exit");
  }
  if (exitLink) {
    exitLink.addEventListener("click", function (e) { e.preventDefault(); leave(); });
  }
  // Three presses of Shift on its own within two seconds also leave (as GOV.UK's "Exit this page"
  // does). Any other key in between starts the count again, so typing capitals never triggers it.
  var presses = [];
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Shift") { presses = []; }
  });
  document.addEventListener("keyup", function (e) {
    if (e.key !== "Shift") { return; }
    var now = Date.now();
    presses = presses.filter(function (t) { return now - t < 2000; });
    presses.push(now);
    if (presses.length >= 3) { leave(); }
  });
  // Her answers never come back: Chromium keeps a page it leaves (ticks and text included) in its
  // back/forward cache. Clear every form as the page is hidden (a form being sent was read already),
  // and again if a page is ever shown from that cache. Without JavaScript, /forget.css and the
  // per-rendering field names do this work (see src/web/public.rs).
  function forget() {
    document.querySelectorAll("form").forEach(function (f) {
      if (f.getAttribute("action") === "/receipt") { return; } // the receipt's own language buttons
      f.reset();
      f.querySelectorAll("input[type=radio], input[type=checkbox]").forEach(function (i) { i.checked = false; });
      f.querySelectorAll("textarea, input[type=text]").forEach(function (i) { i.value = ""; });
    });
  }
  window.addEventListener("pagehide", forget);
  window.addEventListener("pageshow", function (e) { if (e.persisted) { forget(); update(); } });
  // After a refused send, the error summary (first in the page) takes focus; a link in it moves
  // focus into its question, whose heading stays below the exit bar (scroll-margin-top).
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
    summary.addEventListener("click", function (e) {
      var a = e.target.closest && e.target.closest("a[href^='#']");
      if (!a) { return; }
      var q = document.getElementById(a.getAttribute("href").slice(1));
      var input = q && q.querySelector("input, textarea");
      if (!input) { return; }
      e.preventDefault();
      history.replaceState(null, "", a.getAttribute("href"));
      q.scrollIntoView({ block: "start" });
      input.focus({ preventScroll: true });
    });
  }
  // Options that stand alone ("None of these", "Prefer not to say"): ticking one unticks the others
  // in its question, and ticking another unticks it. The server refuses the mix either way.
  document.addEventListener("change", function (e) {
    var i = e.target;
    if (!i || i.type !== "checkbox" || !i.checked) { return; }
    var q = i.closest(".question");
    if (!q) { return; }
    q.querySelectorAll("input[type=checkbox]").forEach(function (o) {
      if (o !== i && (i.hasAttribute("data-exclusive") || o.hasAttribute("data-exclusive"))) { o.checked = false; }
    });
  });
  // Skip logic: hide a conditional group until its condition holds. Without JavaScript the group
  // stays visible under its "If you answered ..." label. Field names change with every rendering,
  // so a question's inputs are found by its id (#q-<id>).
  var groups = document.querySelectorAll("[data-show-if]");
  function update() {
    groups.forEach(function (g) {
      // One condition per question id; several combine as data-join says (all when absent).
      var qs = g.getAttribute("data-show-if").split(" ");
      var wanted = g.getAttribute("data-any-of").split("|");
      var any = g.getAttribute("data-join") === "any";
      var met = !any;
      qs.forEach(function (q, n) {
        var opts = (wanted[n] || "").split(" ");
        var one = false;
        // A question hidden by its own condition counts as not answered (its inputs are disabled).
        document.querySelectorAll("#q-" + q + " input").forEach(function (i) {
          if (i.checked && !i.disabled && opts.indexOf(i.value) !== -1) { one = true; }
        });
        met = any ? (met || one) : (met && one);
      });
      var hidden = !met;
      g.hidden = hidden;
      g.querySelectorAll("input, textarea").forEach(function (i) { i.disabled = hidden; });
    });
  }
  if (!groups.length) { return; }
  document.addEventListener("change", update);
  update();
})();
