// The confirm button sends the ballot once: a second tap while the first is on its way does
// nothing. Sending again later is safe (the server answers a repeat with the same receipt), so
// after a while, or when the page comes back from the browser's history, the button works again.
(function () {
  var form = document.querySelector("form.confirm-form");
  if (!form) return;
  var button = form.querySelector("button[type=submit]");
  var label = button.textContent;
  var sending = false;
  var timer = null;
  function reset() {
    sending = false;
    button.textContent = label;
    button.removeAttribute("aria-busy");
    if (timer) clearTimeout(timer);
  }
  form.addEventListener("submit", function (event) {
    if (sending) {
      event.preventDefault();
      return;
    }
    sending = true;
    button.setAttribute("aria-busy", "true");
    if (button.dataset.busyLabel) button.textContent = button.dataset.busyLabel;
    timer = setTimeout(reset, 20000);
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) reset();
  });
})();
