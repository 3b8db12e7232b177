#!/usr/bin/env python3
"""A real server for the health-check tests: HTTP on one port, a UDP echo on another.

Every GET is answered with the status in --status-file (200 when the file is missing or
empty) and the body "<name> <address>:<port>\\n", so a client behind the load balancer sees
which server answered and the checker sees the status; every datagram is answered with
"<name>\\n" and its payload. The test stops and starts it by PID to make the server die and come
back, and writes the status file to make it answer 503.

It binds one explicit numeric address (IPv4 or IPv6), writes its PID to --pidfile once both sockets are
bound, and stops at SIGTERM or SIGINT.
"""

import argparse
import http.server
import ipaddress
import os
import signal
import socket
import socketserver
import threading


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bind", required=True, help="numeric IPv4 or IPv6 address to bind")
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--udp-port", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--status-file", required=True)
    p.add_argument("--pidfile", required=True)
    args = p.parse_args()
    # A name would need a resolver the lab does not have.
    v6 = ipaddress.ip_address(args.bind).version == 6
    args.family = socket.AF_INET6 if v6 else socket.AF_INET
    return args


def status_of(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return int(text) if text else 200
    except (OSError, ValueError):
        return 200


def make_handler(args):
    body = f"{args.name} {args.bind}:{args.http_port}\n".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):  # noqa: N802 (the base class's name)
            self.send_response(status_of(args.status_file))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *unused):
            pass

    return Handler


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def server_bind(self):
        # HTTPServer's would look its own name up (getfqdn): no resolver in the lab, a stall.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def serve_udp(sock, name):
    prefix = (name + "\n").encode()
    while True:
        data, peer = sock.recvfrom(2048)
        sock.sendto(prefix + data, peer)


def main():
    args = parse_args()
    Server.address_family = args.family
    httpd = Server((args.bind, args.http_port), make_handler(args))
    udp = socket.socket(args.family, socket.SOCK_DGRAM)
    udp.bind((args.bind, args.udp_port))
    threading.Thread(target=serve_udp, args=(udp, args.name), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *unused: os._exit(0))
    signal.signal(signal.SIGINT, lambda *unused: os._exit(0))
    with open(args.pidfile + ".tmp", "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(args.pidfile + ".tmp", args.pidfile)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
