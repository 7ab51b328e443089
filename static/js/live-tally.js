// Live results: every few seconds, read each poll's tally from our JSON API and update the
// figures in place. Without JavaScript the page is complete as served (and has a Refresh link).
(function () {
  "use strict";
  var INTERVAL_MS = 5000;
  var cards = Array.prototype.slice.call(document.querySelectorAll("[data-poll]"));
  if (!cards.length || !window.fetch) return;

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function clock(date) {
    return pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes()) + ":" + pad(date.getUTCSeconds());
  }

  function showAge(card, stale) {
    var asOf = card.getAttribute("data-as-of");
    var target = card.querySelector("[data-as-of-text]");
    if (!asOf || !target) return;
    var when = new Date(asOf);
    var age = Math.max(0, Math.round((Date.now() - when.getTime()) / 1000));
    var label = stale ? card.getAttribute("data-label-stale") : card.getAttribute("data-label-as-of");
    target.textContent = label + " " + clock(when) + " UTC (" + age + " " + card.getAttribute("data-label-ago") + ")";
    target.classList.toggle("stale", !!stale);
  }

  function apply(card, tally) {
    var total = tally.total;
    card.querySelector("[data-total]").textContent = total;
    var received = card.querySelector("[data-received]");
    if (received && tally.received !== undefined) received.textContent = tally.received;
    var waiting = card.querySelector("[data-waiting]");
    if (waiting && tally.waiting !== undefined) waiting.textContent = tally.waiting;
    tally.counts.forEach(function (entry) {
      var row = card.querySelector('tr[data-option="' + entry.option + '"]');
      if (!row) return;
      var percent = total ? Math.round(1000 * entry.count / total) / 10 : 0;
      row.querySelector("[data-count]").textContent = entry.count;
      row.querySelector("[data-percent]").textContent = percent.toFixed(1);
      var meter = row.querySelector("[data-meter]");
      meter.value = percent;
      meter.textContent = percent.toFixed(1) + "%";
    });
    if (tally.as_of) card.setAttribute("data-as-of", tally.as_of);
    card.removeAttribute("data-stale");
    showAge(card, false);
  }

  function refresh(card) {
    fetch("/api/v1/polls/" + card.getAttribute("data-poll") + "/tally", { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (tally) { apply(card, tally); })
      .catch(function () {
        // Keep the figures we have and say how old they are.
        card.setAttribute("data-stale", "1");
        showAge(card, true);
      });
  }

  setInterval(function () { cards.forEach(refresh); }, INTERVAL_MS);
  setInterval(function () {
    cards.forEach(function (card) { showAge(card, card.hasAttribute("data-stale")); });
  }, 1000);
})();
