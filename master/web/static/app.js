// hamaster's dashboard: the status section follows the master live, by server-sent events (/events).
// The server renders the section (every string escaped there); this only swaps it in. No build step.
"use strict";
(function () {
  const status = document.getElementById("status");
  const badge = document.getElementById("live");
  if (!status || !window.EventSource) return;
  function say(state, text) {
    if (badge) { badge.dataset.state = state; badge.textContent = text; }
  }
  const source = new EventSource("/events");
  source.addEventListener("status", function (e) {
    const msg = JSON.parse(e.data);
    if (Number(msg.version) === Number(status.dataset.version)) { say("live", "live"); return; }
    status.innerHTML = msg.html;
    status.dataset.version = String(msg.version);
    say("live", "live");
  });
  source.addEventListener("open", function () { say("live", "live"); });
  // EventSource reconnects by itself; say so meanwhile
  source.addEventListener("error", function () { say("lost", "reconnecting"); });
})();
