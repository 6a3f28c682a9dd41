"""The single-page docs fixture (tests/fixtures/sites/spa_docs) served the way SPA hosts
serve one: every client-side route answers with the app shell."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import FIXTURE_SITES
from tests.support.server import Reply, TestServer

SPA = FIXTURE_SITES / "spa_docs"
HISTORY_ROUTES = ("/docs/", "/docs/guide/install", "/docs/guide/config", "/docs/api/client")
"""Client-side routes of the main app (pushState); each answers with ``index.html``."""
REFERENCE_ROUTE = "/docs/reference/"
"""The hash-routed reference app (``#/overview``, ``#/errors``, ``#/limits``)."""
START = "/docs/"


def serve_spa(site_server: Callable[[str], TestServer]) -> TestServer:
    server = site_server("spa_docs")
    shell = (SPA / "index.html").read_bytes()
    for path in HISTORY_ROUTES:
        server.route(path, Reply(body=shell))
    server.route(REFERENCE_ROUTE, Reply(body=(SPA / "reference.html").read_bytes()))
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    return server


# --- Apps that draw their content after load with no request announcing it -------------
# Each page's last sentence is what a crawl must read; an app shell is served as is, so
# ``render_javascript="auto"`` has to recognise it from its structure alone.

LAST_WORDS = "This closing sentence is drawn last."

_BLOCKS = (
    "".join(f"<p>Paragraph {n} of the guide, drawn in its turn.</p>" for n in range(1, 41))
    + f"<p>{LAST_WORDS}</p>"
)

TIMER_APP = f"""<!doctype html><html><head><title>Timer</title></head><body>
<div class="page"></div>
<script>
// Hydration after a timeout: nothing for 600 ms after load, no request in between. The
// mount point has no conventional id: only its emptiness says it is an app.
window.addEventListener("load", () => setTimeout(() => {{
  document.querySelector(".page").innerHTML =
    '<main><h1>Timer</h1>{_BLOCKS}</main>';
}}, 600));
</script></body></html>"""

RAF_APP = f"""<!doctype html><html><head><title>Frames</title></head><body>
<div id="root"></div>
<script>
// Drawn one block per animation frame: the heading first, then 41 paragraphs (about
// 700 ms at 60 frames a second), as virtual-DOM schedulers split their work.
const holder = document.createElement("div");
holder.innerHTML = '{_BLOCKS}';
const blocks = Array.from(holder.children);
window.addEventListener("load", () => {{
  const root = document.getElementById("root");
  requestAnimationFrame(function step() {{
    if (!root.firstChild) root.innerHTML = "<main><h1>Frames</h1></main>";
    else if (blocks.length) root.firstChild.appendChild(blocks.shift());
    else return;
    requestAnimationFrame(step);
  }});
}});
</script></body></html>"""

SOCKET_FALLBACK_APP = """<!doctype html><html><head><title>Live</title></head><body>
<div id="app">Connecting…</div>
<script>
// Live data over a WebSocket; when the socket closes, reconnects once after 300 ms, then
// falls back to fetching the same content over HTTP. "Connecting…" until then: a
// placeholder is not content.
const show = (html) => {
  document.getElementById("app").innerHTML = "<main><h1>Live</h1>" + html + "</main>";
};
let tries = 0;
function connect() {
  const socket = new WebSocket("ws://" + location.host + "/live");
  socket.onmessage = (event) => show(event.data);
  socket.onclose = () => {
    tries += 1;
    if (tries < 2) setTimeout(connect, 300);
    else fetch("/live.json").then((r) => r.json()).then((data) => show(data.html));
  };
}
window.addEventListener("load", connect);
</script></body></html>"""
SOCKET_FALLBACK_DATA = '{"html": "' + _BLOCKS.replace('"', '\\"') + '"}'

SOCKET_ONLY_APP = """<!doctype html><html><head><title>Socket only</title></head><body>
<div id="app"></div>
<script>
// Its content comes over a WebSocket and nowhere else.
window.addEventListener("load", () => {
  const socket = new WebSocket("ws://" + location.host + "/live");
  socket.onmessage = (event) => {
    document.getElementById("app").innerHTML = "<main>" + event.data + "</main>";
  };
});
</script></body></html>"""

SOCKET_INDEX = """<!doctype html><html><head><title>Index</title></head><body><main>
<h1>Index</h1><p>A static page that leads to the app fed over a WebSocket, so that the crawl
has something to start from: a crawl whose start page fails is an error of its own.
This paragraph is here to make the page plainly static for the detector.</p>
<p><a href="socket-only.html">The live dashboard</a></p></main></body></html>"""

READY_APPS = {
    "/timer.html": TIMER_APP,
    "/frames.html": RAF_APP,
    "/live.html": SOCKET_FALLBACK_APP,
    "/socket-only.html": SOCKET_ONLY_APP,
}


def serve_ready_apps(server: TestServer) -> TestServer:
    """The apps above on ``server``, each at its path of ``READY_APPS``."""
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    for path, page in READY_APPS.items():
        server.route(path, Reply(body=page))
    server.route("/live.json", Reply(body=SOCKET_FALLBACK_DATA, content_type="application/json"))
    server.route("/socket-index.html", Reply(body=SOCKET_INDEX))
    return server
