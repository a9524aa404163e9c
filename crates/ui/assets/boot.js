// A classic script, run before the app's modules. A module of the app that
// fails to load (a dropped connection) stops the whole app without running
// any of its error handling, and a request that never answers leaves the
// page at "Loading…" for good. So: if the app has not rendered within 20 s,
// or a script failed to load, say so and load the page again, at most three
// times in a row; then say how to try again.
(function () {
  'use strict';
  var KEY = 'berth.bootTries';
  function retry(why) {
    if (window.berthBooted) return;
    var app = document.getElementById('app');
    var tries = Number(sessionStorage.getItem(KEY) || 0);
    if (tries >= 3) {
      sessionStorage.removeItem(KEY);
      if (app) app.textContent = 'The dashboard did not load (' + why + '). Reload the page to try again.';
      return;
    }
    sessionStorage.setItem(KEY, String(tries + 1));
    if (app) app.textContent = 'The dashboard did not load (' + why + '); trying again…';
    setTimeout(function () { location.reload(); }, 1000);
  }
  // Load errors of elements do not bubble; they reach a capturing listener.
  window.addEventListener('error', function (e) {
    if (e.target && e.target.tagName === 'SCRIPT') retry('a script failed to load');
  }, true);
  setTimeout(function () { retry('no answer in 20 s'); }, 20000);
})();
