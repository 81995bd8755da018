#!/usr/bin/env python3
"""Open every page of the built book in headless Chromium and check what a reader sees.

Usage::

    python .ci/browser_check.py _build/html [--screens _build/screens] [--width 1280]

For each page (every ``*.html`` of the build except Sphinx's genindex/search pages) it
loads the page at the given window width, waits for its images, saves a full-page
screenshot to ``<screens>/<page>.png`` and fails (exit status 1, one line per problem) when
the page shows

- raw markdown table syntax (``| a | b |`` or ``|---|---|`` lines) outside code inputs;
- a doubly numbered heading or sidebar entry (``7. 7. The forecast ...``);
- a broken image (loaded, natural width 0);
- a horizontal scrollbar: the page wider than the window, or an element inside the text
  column that scrolls sideways (its ``scrollWidth`` exceeds its width and its
  ``overflow-x`` is ``auto``/``scroll``), or content sticking out of the column;
- a figure shrunk below ``--min-figure-scale`` of its natural width (its text would be
  unreadably small).

The browser is Debian's ``chromium`` (``apt-get install -y chromium``), driven through the
Chrome DevTools protocol (https://chromedevtools.github.io/devtools-protocol/) over a
websocket (pip ``websocket-client``); nothing is downloaded. Set ``CHROMIUM`` to use another
binary.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket

# Runs in the page; returns {"problems": [...], "column_width": px}.
CHECK_JS = r"""
(() => {
  const problems = [];
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  if (!article) return {problems: [], column_width: 0, scales: [], skipped: true};  // a redirect page
  // 1. raw markdown tables: text outside code inputs
  const clone = article.cloneNode(true);
  clone.querySelectorAll('.cell_input, .highlight, pre, code, script, style, .headerlink').forEach(e => {
    if (!e.closest('.cell_output') || e.closest('.cell_input')) e.remove();
  });
  const text = clone.innerText || clone.textContent || '';
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (/\|\s*:?(-{3,}|[\u2014\u2013]+):?\s*\|/.test(l) || (/^\|.*\|.*\|$/.test(l))) {
      problems.push('raw markdown table: ' + l.slice(0, 100));
      break;
    }
  }
  // 2. doubly numbered headings (page headings, sidebar and in-page toc entries)
  const numbered = /^\s*(\d+(\.\d+)*)\.?\s+\d+(\.\d+)*\.\s/;
  const heads = [...document.querySelectorAll('h1, h2, h3, h4, nav a, .toctree-wrapper a')];
  for (const h of heads) {
    const t = (h.textContent || '').replace('\u00b6', '').replace('#', '').trim();
    if (numbered.test(t)) problems.push('doubly numbered: ' + t.slice(0, 80));
  }
  // 3. broken images, and 5. figures shrunk too much
  const scales = [];
  for (const img of document.querySelectorAll('img')) {
    const r = img.getBoundingClientRect();
    if (img.complete && img.naturalWidth === 0) problems.push('broken image: ' + img.getAttribute('src'));
    else if (img.naturalWidth > 0 && r.width > 0 && article.contains(img))
      scales.push([img.getAttribute('src'), r.width / img.naturalWidth]);
  }
  // 4. horizontal scrolling
  const doc = document.scrollingElement || document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1)
    problems.push(`page scrolls sideways: ${doc.scrollWidth}px wide in a ${window.innerWidth}px window`);
  const col = article.getBoundingClientRect();
  const reported = [];
  for (const el of article.querySelectorAll('*')) {
    if (reported.some(r => r.contains(el))) continue;  // only the outermost offender
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.visibility === 'hidden' || el.closest('details:not([open]) > :not(summary)')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const what = el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
    if ((st.overflowX === 'auto' || st.overflowX === 'scroll') && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`horizontal scrollbar in ${what}: content ${el.scrollWidth}px in ${el.clientWidth}px: ` + (el.innerText || '').trim().slice(0, 60));
      reported.push(el);
    } else if (r.right > col.right + 2 && st.position !== 'fixed' && st.position !== 'absolute') {
      problems.push(`sticks out of the text column: ${what} (right edge ${Math.round(r.right)}px > ${Math.round(col.right)}px): ` + (el.innerText || '').trim().slice(0, 60));
      reported.push(el);
    }
  }
  return {problems: [...new Set(problems)], column_width: Math.round(col.width), scales: scales};
})()
"""

WAIT_JS = r"""
new Promise(resolve => {
  const imgs = [...document.images];
  const done = () => imgs.every(i => i.complete);
  const t0 = Date.now();
  (function poll() {
    if ((done() && document.readyState === 'complete') || Date.now() - t0 > 10000)
      (document.fonts ? document.fonts.ready : Promise.resolve()).then(() => resolve(true));
    else setTimeout(poll, 50);
  })();
})
"""


class Chromium:
    """A headless Chromium process and one DevTools websocket session to its first tab."""

    def __init__(self, width: int, height: int = 900, binary: str | None = None):
        binary = binary or os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
        if not binary:
            raise SystemExit("browser_check: no chromium binary (apt-get install -y chromium, or set CHROMIUM)")
        self.profile = tempfile.mkdtemp(prefix="browser_check_")
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--hide-scrollbars", "--no-first-run", "--remote-debugging-port=0", "--remote-allow-origins=*",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            if self.proc.poll() is not None:
                raise SystemExit(f"browser_check: {binary} exited with status {self.proc.returncode}")
            time.sleep(0.1)
        else:
            raise SystemExit("browser_check: chromium did not open its DevTools port within 30 s")
        port = port_file.read_text().split()[0]
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self._id = 0
        self.events = []  # protocol events received while waiting for a command's reply
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  width=width, height=height, deviceScaleFactor=1, mobile=False)

    def send(self, method: str, **params):
        """Send one DevTools command and return its ``result`` (raises on a protocol error)."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg["method"])

    def evaluate(self, expression: str):
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, url: str, timeout: float = 30) -> None:
        """Navigate to ``url`` and wait for its load event, its images and its fonts."""
        self.events.clear()
        self.send("Page.navigate", url=url)
        deadline = time.time() + timeout
        self.ws.settimeout(timeout)
        try:
            while "Page.loadEventFired" not in self.events and time.time() < deadline:
                msg = json.loads(self.ws.recv())
                if "method" in msg:
                    self.events.append(msg["method"])
        except websocket.WebSocketTimeoutException:
            print(f"warning: no load event for {url} within {timeout:.0f} s", flush=True)
        self.evaluate(WAIT_JS)

    def screenshot(self, path: Path, width: int) -> None:
        height = self.evaluate("Math.ceil(document.documentElement.scrollHeight)")
        r = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                      clip={"x": 0, "y": 0, "width": width, "height": min(height, 16000), "scale": 1})
        path.write_bytes(base64.b64decode(r["data"]))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


def pages(html_dir: Path) -> list[Path]:
    """Every content page of a Sphinx html build (not genindex, search or _static files)."""
    skip = {"genindex.html", "search.html", "py-modindex.html"}
    return sorted(p for p in html_dir.rglob("*.html")
                  if p.name not in skip and not any(part.startswith("_") for part in p.relative_to(html_dir).parts))


def check_book(html_dir: Path, screens: Path, width: int = 1280, min_figure_scale: float = 0.6) -> dict:
    """Check every page; returns ``{page: [problems]}`` (empty lists for good pages)."""
    html_dir, screens = Path(html_dir), Path(screens)
    screens.mkdir(parents=True, exist_ok=True)
    found = pages(html_dir)
    if not found:
        raise SystemExit(f"browser_check: no html pages under {html_dir} (build the book first)")
    browser = Chromium(width)
    report = {}
    try:
        for page in found:
            rel = page.relative_to(html_dir).as_posix()
            browser.open(page.resolve().as_uri())
            res = browser.evaluate(CHECK_JS)
            if res.get("skipped"):
                print(f"skip {rel} (no article: a redirect page)", flush=True)
                continue
            probs = list(res["problems"])
            for src, scale in res["scales"]:
                if scale < min_figure_scale:
                    probs.append(f"figure shown at {scale:.0%} of its size (text too small): {src}")
            shot = screens / (rel.removesuffix(".html").replace("/", "__") + f"_{width}.png")
            browser.screenshot(shot, width)
            report[rel] = probs
            print(f"{'FAIL' if probs else 'ok  '} {rel} (text column {res['column_width']} px) -> {shot}", flush=True)
            for p in probs:
                print(f"       {p}", flush=True)
    finally:
        browser.close()
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("html", nargs="?", default="_build/html", help="the book's html folder")
    ap.add_argument("--screens", default="_build/screens", help="where to save one screenshot per page")
    ap.add_argument("--width", type=int, nargs="+", default=[1280], help="window widths in px")
    ap.add_argument("--min-figure-scale", type=float, default=0.6,
                    help="fail when a figure is shown below this share of its natural width")
    a = ap.parse_args(argv)
    bad = 0
    for w in a.width:
        report = check_book(Path(a.html), Path(a.screens), w, a.min_figure_scale)
        bad += sum(1 for p in report.values() if p)
    print(f"browser check: {'FAILED on ' + str(bad) + ' page(s)' if bad else 'all pages passed'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
