#!/usr/bin/env python3
"""Helpers of bench/sidecar/layout (Linux, root): page a process's executable out, list what it faults back in.

  layout.py pageout PID EXE        page out every mapping of EXE in PID (process_madvise MADV_PAGEOUT), then drop the
                                   file's cached pages (posix_fadvise DONTNEED)
  layout.py resident PID EXE       resident KB of EXE in PID by section
  layout.py order PID EXE OUT      the methods (symbols of EXE, which must not be stripped) on the pages of EXE's managed
                                   code resident in PID, in address order, one mangled name per line, into OUT
  layout.py exporter PORT          serves /metrics: a steady, healthy service for some of rules/ (checkout, storefront, the
                                   shop namespace), so the profile runs the evaluation's paths with data as well as without
"""
import ctypes, os, re, subprocess, sys, time

PAGE = 4096
MADV_PAGEOUT = 21
SYS_PIDFD_OPEN = 434
SYS_PROCESS_MADVISE = 440


def mappings(pid, exe):
    real = os.path.realpath(exe)
    out = []
    for line in open(f"/proc/{pid}/maps"):
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].strip() == real:
            start, end = (int(x, 16) for x in parts[0].split("-"))
            out.append((start, end, parts[1]))
    return out


def pageout(pid, exe):
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = libc.syscall(SYS_PIDFD_OPEN, int(pid), 0)
    if pidfd < 0:
        sys.exit(f"pidfd_open: errno {ctypes.get_errno()}")

    class IoVec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    for start, end, perms in mappings(pid, exe):
        vec = IoVec(start, end - start)
        if libc.syscall(SYS_PROCESS_MADVISE, pidfd, ctypes.byref(vec), 1, MADV_PAGEOUT, 0) < 0:
            print(f"process_madvise {perms} {start:x}: errno {ctypes.get_errno()}", file=sys.stderr)
    os.close(pidfd)
    fd = os.open(exe, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def present(pid, start, end):
    start, end = start // PAGE * PAGE, (end + PAGE - 1) // PAGE * PAGE
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        data = f.read((end - start) // PAGE * 8)
    return [start + i * PAGE for i in range(len(data) // 8) if int.from_bytes(data[i * 8:i * 8 + 8], "little") >> 63]


def sections(exe):
    out = []
    for line in subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True, check=True).stdout.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m and int(m.group(2), 16):
            out.append((m.group(1), int(m.group(2), 16), int(m.group(2), 16) + int(m.group(3), 16)))
    return out


def resident(pid, exe):
    pages = [p for s, e, _ in mappings(pid, exe) for p in present(pid, s, e)]
    secs = sections(exe)
    kb = {}
    for p in pages:
        # A page shared by two sections counts once, for the first of them.
        name = next((n for n, s, e in secs if s < p + PAGE and e > p), "(between sections)")
        kb[name] = kb.get(name, 0) + PAGE // 1024
    for name, _, _ in secs + [("(between sections)", 0, 0)]:
        if kb.get(name):
            print(f"{kb[name]:8d} KB  {name}")
    print(f"{len(pages) * PAGE // 1024:8d} KB  all of {os.path.basename(exe)}")


def order(pid, exe, out):
    code = next((s, e) for n, s, e in sections(exe) if n == "__managedcode")
    pages = set(present(pid, *code))
    nm = subprocess.run(["nm", "-n", "--defined-only", exe], capture_output=True, text=True, check=True).stdout
    symbols = []
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tT":
            address = int(parts[0], 16)
            if code[0] <= address < code[1]:
                symbols.append((address, parts[2]))
    names = []
    for i, (address, name) in enumerate(symbols):
        end = symbols[i + 1][0] if i + 1 < len(symbols) else code[1]
        first, last = address // PAGE * PAGE, max(address, end - 1) // PAGE * PAGE
        if any(p in pages for p in range(first, last + PAGE, PAGE)):
            names.append(name)
    if len(names) < 1000:
        sys.exit(f"only {len(names)} methods on {len(pages)} resident code pages: not a profile (a position-independent build, another path?)")
    with open(out, "w") as f:
        f.write("".join(n + "\n" for n in dict.fromkeys(names)))
    print(f"{len(names)} of {len(symbols)} methods on {len(pages)} resident pages ({len(pages) * PAGE // 1024} KB) of managed code")


def exporter(port):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    started = time.time()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            t = time.time() - started
            lines = []
            for labels in ['app="checkout",job="checkout",track="canary"', 'app="checkout",job="checkout",track="stable"',
                           'app="storefront",color="green"', 'app="storefront",color="blue"',
                           'namespace="shop",deployment="cart"', 'namespace="shop",deployment="search"']:
                lines.append(f'http_requests_total{{{labels},code="200"}} {int(50 * t)}')
                lines.append(f'http_requests_total{{{labels},code="500"}} {int(0.2 * t)}')
                for le, share in (("0.1", 0.6), ("0.25", 0.9), ("1", 0.99), ("+Inf", 1.0)):
                    lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{le}"}} {int(50 * t * share)}')
            lines.append('app_build_info{app="storefront",color="green",version="2.4.1"} 1')
            lines.append('queue_depth{app="checkout"} 12')
            lines.append('kube_deployment_status_observed_generation{namespace="shop",deployment="cart"} 7')
            body = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()


if __name__ == "__main__":
    verb, args = sys.argv[1], sys.argv[2:]
    {"pageout": pageout, "resident": resident, "order": order, "exporter": exporter}[verb](*args)
