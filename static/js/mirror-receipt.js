// Receipt lookup on a static mirror (tallying/mirrors.py): the tracker is normalized and hashed
// here (SHA-256), and only the index file named by the hash's first two hex digits is fetched,
// so the tracker never leaves the browser. Without JavaScript the page lists those files.
(function () {
  "use strict";
  var form = document.getElementById("mirror-receipt");
  if (!form || !window.fetch) return;
  var output = document.getElementById("mirror-receipt-result");
  var polls = {};
  JSON.parse(document.getElementById("mirror-polls").textContent).forEach(function (p) { polls[p.poll] = p; });
  var ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

  function normalize(text) {
    var value = text.toUpperCase().replace(/[\s\-_]/g, "").replace(/O/g, "0").replace(/[IL]/g, "1");
    if (value.length !== 32) return null;
    for (var i = 0; i < value.length; i++) if (ALPHABET.indexOf(value[i]) < 0) return null;
    return value;
  }

  // SHA-256 (FIPS 180-4) of an ASCII string, as lower-case hex: crypto.subtle exists only in
  // secure contexts, and a mirror may be served over plain HTTP.
  var K = [];
  (function () {
    var n = 2, found = 0;
    function frac(x) { return ((x - Math.floor(x)) * 4294967296) >>> 0; }
    while (found < 64) {
      var prime = true;
      for (var d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; }
      if (prime) { K.push(frac(Math.pow(n, 1 / 3))); found++; }
      n++;
    }
  })();
  function sha256hex(ascii) {
    var H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var bytes = [];
    for (var i = 0; i < ascii.length; i++) bytes.push(ascii.charCodeAt(i) & 0xff);
    var bits = bytes.length * 8;
    bytes.push(0x80);
    while (bytes.length % 64 !== 56) bytes.push(0);
    for (i = 7; i >= 0; i--) bytes.push(i >= 4 ? 0 : (bits >>> (8 * i)) & 0xff);
    function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }
    for (var off = 0; off < bytes.length; off += 64) {
      var w = [];
      for (i = 0; i < 16; i++) {
        w[i] = (bytes[off + 4 * i] << 24) | (bytes[off + 4 * i + 1] << 16) | (bytes[off + 4 * i + 2] << 8) | bytes[off + 4 * i + 3];
      }
      for (i = 16; i < 64; i++) {
        var s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        var s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (i = 0; i < 64; i++) {
        var t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H = [(H[0] + a) | 0, (H[1] + b) | 0, (H[2] + c) | 0, (H[3] + d) | 0,
           (H[4] + e) | 0, (H[5] + f) | 0, (H[6] + g) | 0, (H[7] + h) | 0];
    }
    return H.map(function (x) { return ("00000000" + (x >>> 0).toString(16)).slice(-8); }).join("");
  }

  function say(text, isError) {
    output.textContent = "";
    var p = document.createElement("p");
    if (isError) p.className = "error";
    p.textContent = text;
    output.appendChild(p);
  }

  function show(hash, line) {
    var parts = line.split(" ");
    var poll = polls[parts[1]] || { region: parts[1], answers: {} };
    var position = parseInt(parts[2], 10);
    output.textContent = "";
    var h = document.createElement("h2");
    h.textContent = form.getAttribute("data-label-found") + ": " + position;
    output.appendChild(h);
    var dl = document.createElement("dl");
    dl.className = "entry";
    [["region", poll.region], ["position", String(position)], ["answer", poll.answers[parts[3]] || parts[3]],
     ["hash", hash]].forEach(function (row) {
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = form.getAttribute("data-label-" + row[0]);
      dd.textContent = row[1];
      dl.appendChild(dt); dl.appendChild(dd);
    });
    output.appendChild(dl);
    var page = Math.floor((position - 1) / 100) * 100;
    var a = document.createElement("a");
    a.href = "../ledger/" + parts[1] + "/" + (page ? "after-" + page + ".html" : "index.html");
    a.textContent = form.getAttribute("data-label-ledger");
    output.appendChild(a);
  }

  form.hidden = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var tracker = normalize(document.getElementById("mirror-tracker").value);
    if (!tracker) { say(form.getAttribute("data-label-malformed"), true); return; }
    var hash = sha256hex(tracker);
    fetch(form.getAttribute("data-shards") + "/" + hash.slice(0, 2) + ".txt")
      .then(function (response) {
        if (response.status === 404) return "";
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (text) {
        var lines = text.split("\n");
        for (var i = 0; i < lines.length; i++) {
          if (lines[i].slice(0, 64) === hash) { show(hash, lines[i]); return; }
        }
        say(form.getAttribute("data-label-unknown"), true);
      })
      .catch(function () { say(form.getAttribute("data-label-failed"), true); });
  });
})();
