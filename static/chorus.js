// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  var exitLink = document.getElementById("quick-exit");
  function leave() {
    // Blank the page first so nothing stays on screen while the next site loads.
    document.body.innerHTML = "";
    document.title = "";
    window.location.replace(exitLink ? exitLink.href : "/exit");
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
  // Skip logic: hide a conditional group until its condition holds. Without JavaScript the group
  // stays visible under its "If you answered ..." label.
  var groups = document.querySelectorAll("[data-show-if]");
  if (!groups.length) { return; }
  function update() {
    groups.forEach(function (g) {
      var q = g.getAttribute("data-show-if");
      var wanted = g.getAttribute("data-any-of").split(" ");
      var inputs = document.querySelectorAll('input[name="q.' + q + '"]');
      var met = false;
      inputs.forEach(function (i) { if (i.checked && wanted.indexOf(i.value) !== -1) { met = true; } });
      var hidden = !met;
      g.hidden = hidden;
      g.querySelectorAll("input, textarea").forEach(function (i) { i.disabled = hidden; });
    });
  }
  document.addEventListener("change", update);
  update();
})();
