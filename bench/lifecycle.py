#!/usr/bin/env python3
"""Container lifecycles through the Engine API as an SDK drives them: one
kept-alive HTTP/1.1 connection per client on the daemon's unix socket, so
the figures are the engine's and not a client's start-up (curl from bash
costs a process per request).

    lifecycle.py SOCKET [--runs N] [--clients C] [--image IMAGE]

Prints one JSON object: the sequential lifecycles' median and the median of
each phase (create, start, wait, delete) in ms, the lifecycles per second
that C clients reach together (each running N*2/C+1 of them), then the same
again while another client lists the containers (one `GET /containers/json`
every 5 ms on a connection of its own): that run's rate, and the list's p50
and p90 in ms, what another client sees of the churn. The first rate is the
clients' alone: the probe's own requests take the same two cores.
"""

import argparse
import http.client
import json
import socket
import statistics
import threading
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        self.sock = s


def call(conn, method, path, body=None):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, "/v1.41" + path, body=data, headers=headers)
    r = conn.getresponse()
    out = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {out[:200]!r}")
    return out


def lifecycle(conn, image):
    """One create+start+wait+delete; returns the four phases' seconds."""
    t0 = time.perf_counter()
    cid = json.loads(call(conn, "POST", "/containers/create", {"Image": image, "Cmd": ["true"]}))["Id"]
    t1 = time.perf_counter()
    call(conn, "POST", f"/containers/{cid}/start")
    t2 = time.perf_counter()
    code = json.loads(call(conn, "POST", f"/containers/{cid}/wait"))["StatusCode"]
    t3 = time.perf_counter()
    call(conn, "DELETE", f"/containers/{cid}")
    t4 = time.perf_counter()
    if code != 0:
        raise RuntimeError(f"container exited {code}")
    return (t1 - t0, t2 - t1, t3 - t2, t4 - t3)


def clients_run(socket_path, image, clients, per_client, errors):
    """`clients` threads, each running `per_client` lifecycles on a
    connection of its own; returns the seconds they took together. A
    client's failure ends it and lands in `errors`."""

    def client():
        c = UnixConnection(socket_path)
        try:
            for _ in range(per_client):
                lifecycle(c, image)
        except Exception as e:  # reported by the caller
            errors.append(str(e))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    s = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--image", default="busybox")
    a = ap.parse_args()

    conn = UnixConnection(a.socket)
    lifecycle(conn, a.image)  # warm-up
    runs = [lifecycle(conn, a.image) for _ in range(a.runs)]
    ms = lambda xs: round(statistics.median(xs) * 1000, 1)
    phases = {name: ms([r[i] for r in runs]) for i, name in enumerate(["create", "start", "wait", "delete"])}
    total = ms([sum(r) for r in runs])

    per_client = a.runs * 2 // a.clients + 1
    errors = []

    def churn(lists=None):
        """C clients' lifecycles/s; with `lists`, a probe's list times meanwhile."""
        done = threading.Event()

        def prober():
            c = UnixConnection(a.socket)
            while not done.is_set():
                t = time.perf_counter()
                call(c, "GET", "/containers/json")
                lists.append(time.perf_counter() - t)
                time.sleep(0.005)

        probe = threading.Thread(target=prober) if lists is not None else None
        if probe:
            probe.start()
        # A failed client is reported, and the rate is then not given.
        elapsed = clients_run(a.socket, a.image, a.clients, per_client, errors)
        done.set()
        if probe:
            probe.join()
        return None if errors else round(a.clients * per_client / elapsed, 1)

    rate = churn()
    lists = []
    probed = churn(lists)
    lists.sort()
    pct = lambda f: round(lists[int(f * (len(lists) - 1))] * 1000, 1) if lists else None
    print(json.dumps({"median_ms": total, "phases_ms": phases, "rate": rate,
                      "rate_listed": probed,
                      "list_ms": {"p50": pct(0.5), "p90": pct(0.9)}, "errors": errors[:3]}))


if __name__ == "__main__":
    main()
