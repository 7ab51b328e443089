// A QR code on a printed card opens the vote page with "#code=…" in the fragment, which the
// browser never sends to the server. Fill the code field from it, then drop it from the address bar.
(function () {
  var match = /(?:^#|&)code=([^&]+)/.exec(window.location.hash);
  var field = document.getElementById("id_code");
  if (!match || !field) return;
  field.value = decodeURIComponent(match[1]);
  history.replaceState(null, "", window.location.pathname + window.location.search);
})();
