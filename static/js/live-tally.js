// Live results: every few seconds, read each poll's tally from our JSON API and update the
// figures in place. Without JavaScript the page is complete as served (and has a Refresh link).
(function () {
  "use strict";
  var INTERVAL_MS = 5000;
  // Every element showing a poll's figures (the summary's rows and the poll's card) by poll id.
  var cards = Array.prototype.slice.call(document.querySelectorAll("[data-poll]"));
  if (!cards.length || !window.fetch) return;
  var byPoll = {};
  cards.forEach(function (card) {
    var id = card.getAttribute("data-poll");
    (byPoll[id] = byPoll[id] || []).push(card);
  });
  // Percentages as the server writes them: one decimal, in the page's language (60,0 in Russian).
  var lang = document.documentElement.lang || "en";
  var percentFormat = window.Intl ? new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) : null;
  function formatPercent(value) { return percentFormat ? percentFormat.format(value) : value.toFixed(1); }

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

  function setText(card, selector, value) {
    var target = card.querySelector(selector);
    if (target && value !== undefined) target.textContent = value;
  }

  function apply(card, tally) {
    var total = tally.total;
    setText(card, "[data-total]", total);
    setText(card, "[data-received]", tally.received);
    setText(card, "[data-waiting]", tally.waiting);
    tally.counts.forEach(function (entry) {
      var row = card.querySelector('[data-option="' + entry.option + '"]');
      if (!row) return;
      var percent = total ? Math.round(1000 * entry.count / total) / 10 : 0;
      setText(row, "[data-count]", entry.count);
      setText(row, "[data-percent]", formatPercent(percent));
      var meter = row.querySelector("[data-meter]");
      if (meter) {
        meter.value = percent;
        meter.textContent = formatPercent(percent) + "%";
      }
    });
    if (tally.as_of) card.setAttribute("data-as-of", tally.as_of);
    card.removeAttribute("data-stale");
    showAge(card, false);
  }

  function refresh(pollId) {
    var shown = byPoll[pollId];
    fetch("/api/v1/polls/" + pollId + "/tally", { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (tally) { shown.forEach(function (card) { apply(card, tally); }); })
      .catch(function () {
        // Keep the figures we have and say how old they are.
        shown.forEach(function (card) {
          card.setAttribute("data-stale", "1");
          showAge(card, true);
        });
      });
  }

  setInterval(function () { Object.keys(byPoll).forEach(refresh); }, INTERVAL_MS);
  setInterval(function () {
    cards.forEach(function (card) { showAge(card, card.hasAttribute("data-stale")); });
  }, 1000);
})();
