#!/usr/bin/env python3
"""The detection benchmark's HTTP side (bench/detection/run): one loopback server that is

  GET  /metrics   a scrape target: http_requests_total{code="200"} at OK_RATE/s always, and
                  http_requests_total{code="500"} at ERR_RATE/s while errors are on (both counters, computed
                  from the clock at each scrape, so the rate is exact whatever the scrape phase)
  POST /fail      errors begin now   POST /ok   errors end now
  POST /am        Alertmanager's webhook receiver
  POST /rollback  the sentinel's webhook rollback target

Every event goes to stdout as "<event> <unix ms with 3 decimals> [detail]", flushed at once: errors-began,
errors-ended, scrape, alert (firing alerts only; detail: the alert's startsAt in unix ms, the time of the rule
evaluation that fired it), rollback (detail: the body's "at" in unix ms, the time of the evaluation that decided).
Usage: target.py PORT
"""
import datetime
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK_RATE = 100.0
ERR_RATE = 1000.0

lock = threading.Lock()
ok_start = time.time()
err_total = 0.0      # errors counted up to err_since (or for ever, while errors are off)
err_since = None     # when the current error period began


def log(event, detail=""):
    with lock:
        sys.stdout.write(f"{event} {time.time() * 1000:.3f} {detail}".rstrip() + "\n")
        sys.stdout.flush()


def unix_ms(text):
    """An RFC 3339 time (Prometheus writes nanoseconds; fromisoformat takes at most microseconds) in unix ms."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", (text or "").replace("Z", "+00:00"))
    try:
        return f"{datetime.datetime.fromisoformat(text).timestamp() * 1000:.3f}"
    except ValueError:
        return "-1"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/metrics":
            return self.reply(404)
        now = time.time()
        with lock:
            errors = err_total + ((now - err_since) * ERR_RATE if err_since is not None else 0.0)
        ok = (now - ok_start) * OK_RATE
        body = (
            "# TYPE http_requests_total counter\n"
            f'http_requests_total{{code="200"}} {ok:.3f}\n'
            f'http_requests_total{{code="500"}} {errors:.3f}\n'
        ).encode()
        log("scrape")
        self.reply(200, body, "text/plain; version=0.0.4")

    def do_POST(self):
        global err_total, err_since
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/fail":
            with lock:
                if err_since is None:
                    err_since = time.time()
            log("errors-began")
        elif self.path == "/ok":
            with lock:
                if err_since is not None:
                    err_total += (time.time() - err_since) * ERR_RATE
                    err_since = None
            log("errors-ended")
        elif self.path == "/am":
            try:
                firing = [a for a in json.loads(body).get("alerts", []) if a.get("status") == "firing"]
            except ValueError:
                firing = []
            if firing:
                log("alert", unix_ms(firing[0].get("startsAt")))
        elif self.path.startswith("/rollback"):
            try:
                at = json.loads(body).get("at")
            except ValueError:
                at = None
            log("rollback", unix_ms(at))
        else:
            return self.reply(404)
        self.reply(200, b"{}", "application/json")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    log("listening")
    server.serve_forever()
