"""Self-hosted GraphiQL page.

The page loads only assets vendored under ``app/web/static/graphiql`` (see VERSIONS.txt
there), so it works on air-gapped installs with no CDN. A small top bar takes an API key,
keeps it in the browser's localStorage and sends it as ``Authorization: Bearer <key>`` with
every request; ``?key=<key>`` in the page URL does the same (the key is then removed from the
address bar).
"""

from __future__ import annotations

import html
import json
import pathlib
import re

__all__ = ["graphiql_html", "static_files_dir"]

_STATIC_DIR = pathlib.Path(__file__).resolve().parent / "static" / "graphiql"

# localStorage key under which the pasted API key is kept.
_STORAGE_KEY = "allot.graphiql.apiKey"

_DEFAULT_QUERY = """\
# Welcome to allot GraphiQL.
#
# Paste an API key in the box at the top:
# it is kept in this browser's localStorage
# and sent as "Authorization: Bearer <key>".
# Opening this page with ?key=<key> works too.
#
# Ctrl-Space completes, Ctrl-Enter runs.

{
  __typename
}
"""

_TEMPLATE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>allot GraphiQL</title>
<link rel="stylesheet" href="__STATIC__/graphiql.min.css">
<style>
  html, body { height: 100%; margin: 0; }
  body { display: flex; flex-direction: column; overflow: hidden;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  #allot-bar { flex: 0 0 auto; display: flex; align-items: center; gap: 8px;
    padding: 6px 12px; font-size: 13px; background: #0b1f33; color: #e8eef5; }
  #allot-bar strong { font-size: 14px; margin-right: 8px; }
  #allot-bar label { display: flex; align-items: center; gap: 6px; }
  #allot-key { width: 24em; max-width: 40vw; padding: 3px 6px; font: inherit;
    border: 1px solid #5a6b7d; border-radius: 4px; background: #fff; color: #111; }
  #allot-bar button { padding: 3px 10px; font: inherit; cursor: pointer;
    border: 1px solid #5a6b7d; border-radius: 4px; background: #1d3a57; color: #e8eef5; }
  #allot-key-status { opacity: 0.8; }
  #graphiql { flex: 1 1 auto; min-height: 0; }
  #graphiql > .graphiql-container { height: 100%; }
</style>
</head>
<body>
<div id="allot-bar">
  <strong>allot GraphiQL</strong>
  <label for="allot-key">API key
    <input id="allot-key" type="password" autocomplete="off" spellcheck="false"
      placeholder="paste an API key">
  </label>
  <button id="allot-key-show" type="button">Show</button>
  <button id="allot-key-clear" type="button">Forget</button>
  <span id="allot-key-status" role="status"></span>
</div>
<div id="graphiql">Loading GraphiQL&hellip;</div>
<noscript>GraphiQL needs JavaScript.</noscript>
<script src="__STATIC__/react.production.min.js"></script>
<script src="__STATIC__/react-dom.production.min.js"></script>
<script src="__STATIC__/graphiql.min.js"></script>
<script>
(function () {
  "use strict";
  var ENDPOINT = __ENDPOINT__;
  var STORAGE_KEY = __STORAGE_KEY__;
  var DEFAULT_QUERY = __DEFAULT_QUERY__;

  function loadKey() {
    try { return window.localStorage.getItem(STORAGE_KEY) || ""; } catch (e) { return ""; }
  }
  function saveKey(key) {
    try {
      if (key) { window.localStorage.setItem(STORAGE_KEY, key); }
      else { window.localStorage.removeItem(STORAGE_KEY); }
    } catch (e) { /* storage disabled: the key lives for this page only */ }
  }

  var apiKey = loadKey();
  // ?key=... in the URL: keep it, then drop it from the address bar and history.
  var params = new URLSearchParams(window.location.search);
  if (params.has("key")) {
    apiKey = (params.get("key") || "").trim();
    saveKey(apiKey);
    params.delete("key");
    var rest = params.toString();
    try {
      window.history.replaceState(null, "",
        window.location.pathname + (rest ? "?" + rest : "") + window.location.hash);
    } catch (e) { /* ignore */ }
  }

  var input = document.getElementById("allot-key");
  var status = document.getElementById("allot-key-status");
  var showButton = document.getElementById("allot-key-show");
  input.value = apiKey;

  function showStatus() {
    status.textContent = apiKey ? "key set" : "no key: requests are sent without one";
  }

  function hasHeader(headers, name) {
    if (!headers) { return false; }
    if (typeof Headers !== "undefined" && headers instanceof Headers) { return headers.has(name); }
    var lower = name.toLowerCase();
    return Object.keys(headers).some(function (h) { return h.toLowerCase() === lower; });
  }

  // Wraps window.fetch so that every request carries the current key, unless the
  // user set an Authorization header in GraphiQL's own headers editor.
  function authFetch(url, init) {
    init = init || {};
    var headers = new Headers(init.headers || {});
    if (apiKey && !hasHeader(init.headers, "Authorization")) {
      headers.set("Authorization", "Bearer " + apiKey);
    }
    return window.fetch(url, Object.assign({}, init, { headers: headers }));
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  function render() {
    // A new fetcher makes GraphiQL introspect the schema again with the current key.
    var fetcher = GraphiQL.createFetcher({ url: ENDPOINT, fetch: authFetch });
    root.render(React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: false
    }));
  }

  function setKey(key) {
    key = key.trim();
    if (key === apiKey) { return; }
    apiKey = key;
    saveKey(apiKey);
    showStatus();
    render();
  }

  input.addEventListener("change", function () { setKey(input.value); });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { setKey(input.value); }
  });
  showButton.addEventListener("click", function () {
    var hidden = input.type === "password";
    input.type = hidden ? "text" : "password";
    showButton.textContent = hidden ? "Hide" : "Show";
  });
  document.getElementById("allot-key-clear").addEventListener("click", function () {
    input.value = "";
    setKey("");
  });

  showStatus();
  render();
})();
</script>
</body>
</html>
"""


_PLACEHOLDER = re.compile(r"__(STATIC|ENDPOINT|STORAGE_KEY|DEFAULT_QUERY)__")


def _js_literal(value: str) -> str:
    """A JSON string literal that is also safe to place inside an inline <script>."""
    return (
        json.dumps(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def graphiql_html(endpoint: str = "/graphql", static_prefix: str = "/static/graphiql") -> str:
    """The complete GraphiQL page for ``endpoint``, loading assets from ``static_prefix``.

    ``static_prefix`` is the URL path where :func:`static_files_dir` is served. The page refers
    to no external URL.
    """
    values = {
        "STATIC": html.escape(static_prefix.rstrip("/"), quote=True),
        "ENDPOINT": _js_literal(endpoint),
        "STORAGE_KEY": _js_literal(_STORAGE_KEY),
        "DEFAULT_QUERY": _js_literal(_DEFAULT_QUERY),
    }
    # One pass, so a value that happens to contain a placeholder is left alone.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _TEMPLATE)


def static_files_dir() -> pathlib.Path:
    """Directory holding the vendored GraphiQL, React and ReactDOM assets."""
    return _STATIC_DIR
