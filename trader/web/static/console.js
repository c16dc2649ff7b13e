// The live event log: server-sent events from /events, newest first, at most 60 shown.
// An event that is not an audited read refreshes the instances' cards (htmx, see dashboard).
(function () {
  // a chart the trader cannot draw (no reports in that process) is left out, not shown broken
  document.addEventListener("error", function (event) {
    if (event.target.tagName === "IMG") event.target.hidden = true;
  }, true);
  var list = document.getElementById("events");
  if (!list || !window.EventSource) return;
  var live = document.getElementById("live");
  var seen = {};
  var source = new EventSource("/events");
  source.onopen = function () { live.textContent = "live"; };
  source.onerror = function () { live.textContent = "reconnecting…"; };
  source.onmessage = function (message) {
    var e = JSON.parse(message.data);
    var id = e.instance + ":" + e.seq;
    if (seen[id]) return;
    seen[id] = true;
    var item = document.createElement("li");
    item.className = "event";
    item.textContent = e.at + " [" + e.instance + "] " + e.type +
      (e.actor ? " by " + e.actor : "") + (e.summary ? ": " + e.summary : "");
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 60) list.removeChild(list.lastChild);
    if (e.type !== "command" && window.htmx) htmx.trigger(document.body, "refresh");
  };
})();
