/*
 * Social CDP binding link: an example site script (copy it, adapt it; the events API is the contract).
 *
 * A chat button that leads to your website (coupon redeem, chatbot → website, cart remarketing) carries a signed
 * token in the landing URL's `cdp_binding` query parameter. This script keeps that token for the browser session
 * and, when your site knows the member, posts a `binding` event:
 *
 *   <script src="https://YOUR-CDP/static/cdp/binding.js"
 *           data-endpoint="/cdp/events"></script>        <!-- your server route that forwards to the events API -->
 *   ...
 *   CdpBinding.bind({member_id: "M-1"});                  // or {phone: "..."} or {email: "..."}; after login
 *
 * The events API needs your API key, which must never reach a browser: `data-endpoint` is a route of your own
 * server that forwards the JSON body unchanged to POST /api/v1/events with the key (Authorization: Bearer ...).
 * The body is {"events": [{"id": "...", "type": "binding", "data": {"token": "...", "member_id": "..."}}]}; the
 * method comes from the token (e.g. "coupon"). A token is kept until it is posted once, then forgotten.
 */
(function () {
  "use strict";
  var PARAM = "cdp_binding";
  var KEY = "cdp_binding_token";
  var script = document.currentScript;
  var endpoint = (script && script.getAttribute("data-endpoint")) || "/cdp/events";

  function store() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }

  function readToken() {
    var params = new URLSearchParams(window.location.search);
    var token = params.get(PARAM);
    var s = store();
    if (token) {
      if (s) { s.setItem(KEY, token); }
      // Drop the token from the address bar so it is not shared or bookmarked.
      params.delete(PARAM);
      var query = params.toString();
      var clean = window.location.pathname + (query ? "?" + query : "") + window.location.hash;
      if (window.history && window.history.replaceState) { window.history.replaceState(null, "", clean); }
      return token;
    }
    return s ? s.getItem(KEY) : null;
  }

  var token = readToken();

  function bind(identity, options) {
    options = options || {};
    var current = token || readToken();
    if (!current) { return Promise.resolve(null); }
    var data = {token: current};
    ["member_id", "phone", "email", "method"].forEach(function (k) { if (identity && identity[k]) { data[k] = identity[k]; } });
    var body = {events: [{id: "bind-" + Date.now() + "-" + Math.random().toString(36).slice(2), type: "binding", data: data}]};
    return fetch(options.endpoint || endpoint, {
      method: "POST",
      headers: Object.assign({"Content-Type": "application/json"}, options.headers || {}),
      credentials: "same-origin",
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (result) {
        if (response.ok && result.accepted === 1) {
          token = null;
          var s = store();
          if (s) { s.removeItem(KEY); }
        }
        return result;
      });
    });
  }

  window.CdpBinding = {token: function () { return token; }, bind: bind, param: PARAM};
})();
