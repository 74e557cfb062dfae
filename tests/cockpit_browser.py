"""The Cockpit app in a real browser: a small web server for the app and its API, and headless
Chromium driven through chromedriver's WebDriver HTTP API (standard library only).

The server plays Cockpit for one sandbox root: it serves the app as ``hotsync install`` laid it
under the root, a stand-in ``cockpit.js`` (``tests/data/cockpit/cockpit.js``) whose ``spawn``
posts to ``/spawn``, and runs there the root's own API executable, nothing else. Every answer it
sends is kept in ``responses``, for the test to search for a secret.
"""

import base64
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, List, Optional

from support.hosts import free_port

from hotsync.paths import API_FOLDER, COCKPIT_APP_FOLDER
from hotsync.root import Root

STAND_IN = Path(__file__).resolve().parent / "data" / "cockpit" / "cockpit.js"
APP_URL_FOLDER = "/cockpit/nethserver-hotsync/"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM = "/usr/bin/chromium"


class CockpitStandIn:
    """``http://127.0.0.1:PORT/cockpit/nethserver-hotsync/index.html`` for ``root``; a context manager."""

    def __init__(self, root: Path):
        self.root = Root(root)
        self.responses: List[str] = []
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{APP_URL_FOLDER}index.html"

    def __enter__(self) -> "CockpitStandIn":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def run_api(self, args: List[str], request: str) -> dict:
        """What Cockpit's bridge would do for ``spawn(args)``: only an API executable, via sudo or not."""
        if args[:1] == ["/usr/bin/sudo"]:
            args = args[1:]
        if len(args) != 1 or not args[0].startswith(API_FOLDER + "/") or ".." in args[0]:
            return {"exit_status": 126, "stdout": "", "stderr": f"the stand-in runs only API executables: {args}"}
        finished = subprocess.run([str(self.root.path(args[0]))], input=request, capture_output=True, text=True,
                                  timeout=120)
        return {"exit_status": finished.returncode, "stdout": finished.stdout, "stderr": finished.stderr}

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0].split("#")[0]
                if path == "/cockpit/base1/cockpit.js":
                    self._send(200, STAND_IN.read_bytes(), "text/javascript")
                elif path.startswith("/cockpit/base1/"):
                    self._send(200, b"", "text/css")  # patternfly: styling only
                elif path.startswith(APP_URL_FOLDER) and ".." not in path:
                    file = stand_in.root.path(COCKPIT_APP_FOLDER + "/" + path[len(APP_URL_FOLDER):])
                    if file.is_file():
                        body = file.read_bytes()
                        stand_in.responses.append(body.decode("utf-8", "replace"))
                        self._send(200, body, _content_type(file.name))
                    else:
                        self._send(404, b"not found", "text/plain")
                else:
                    self._send(404, b"not found", "text/plain")

            def do_POST(self):
                if self.path != "/spawn":
                    self._send(404, b"not found", "text/plain")
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = json.dumps(stand_in.run_api(body["args"], body["input"]))
                stand_in.responses.append(answer)
                self._send(200, answer.encode(), "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet: pytest shows failures, not every request
                pass

        return Handler


def _content_type(name: str) -> str:
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json",
             ".svg": "image/svg+xml"}
    return types.get(Path(name).suffix, "application/octet-stream")


class WebDriverError(AssertionError):
    pass


class Browser:
    """Headless Chromium through chromedriver (``chromium-driver``); a context manager."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.log = open(log_path, "wb")
        self.driver = subprocess.Popen([shutil.which("chromedriver") or "chromedriver", f"--port={self.port}"],
                                       stdout=self.log, stderr=subprocess.STDOUT)
        self.session = ""

    def __enter__(self) -> "Browser":
        self._wait_for_driver()
        arguments = ["--headless=new", "--disable-gpu", "--window-size=1200,1000", "--disable-dev-shm-usage"]
        if os.geteuid() == 0:
            arguments.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        capabilities = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": arguments}}}}
        self.session = self._call("POST", "/session", capabilities)["sessionId"]
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.session:
                self._call("DELETE", f"/session/{self.session}")
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=20)
            self.log.close()

    def open(self, url: str) -> None:
        self._session_call("POST", "/url", {"url": url})

    def run(self, script: str, *arguments: Any) -> Any:
        """Run ``script`` (a function body; ``arguments`` as ``arguments[0]``…) in the page; its return value."""
        return self._session_call("POST", "/execute/sync", {"script": script, "args": list(arguments)})

    def text(self, css: str) -> str:
        return self.run("var e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)

    def click(self, css: str) -> None:
        self._session_call("POST", f"/element/{self._find(css)}/click", {})

    def replace_text(self, css: str, text: str) -> None:
        element = self._find(css)
        self._session_call("POST", f"/element/{element}/clear", {})
        self._session_call("POST", f"/element/{element}/value", {"text": text})

    def source(self) -> str:
        return self._session_call("GET", "/source")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._session_call("GET", "/screenshot")))
        return path

    def wait_for(self, condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        """``condition()`` once it is true; fails saying ``what`` was awaited."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for {what}; the page says: {self.text('body')}")
            time.sleep(0.2)

    def _find(self, css: str) -> str:
        found = self._session_call("POST", "/element", {"using": "css selector", "value": css})
        return found[ELEMENT]

    def _session_call(self, method: str, path: str, body: Optional[dict] = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def _call(self, method: str, path: str, body: Optional[dict] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as error:
            raise WebDriverError(f"{method} {path}: {error.code} {error.read().decode()[:500]}") from None

    def _wait_for_driver(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self._call("GET", "/status").get("ready"):
                    return
            except (OSError, WebDriverError):
                pass
            if self.driver.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("chromedriver did not start (see its log)")
