#!/usr/bin/env python3
"""The non-mail peer of the end-to-end topology: serves one directory over
HTTP (port 80) and HTTPS (port 443) on each address given, until SIGTERM.

    web.py --root DIR --cert PEM --key PEM ADDRESS...
"""

import argparse
import functools
import http.server
import signal
import socket
import ssl
import sys
import threading


class Quiet(http.server.SimpleHTTPRequestHandler):
    """Serves files without a log line per request."""

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def server(address, port, handler, context):
    """A threading HTTP(S) server bound to address:port."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    class Server(http.server.ThreadingHTTPServer):
        address_family = family

    httpd = Server((address, port), handler)
    if context is not None:
        # The handshake happens on the first read, in the request's thread,
        # so one slow client does not hold up the others.
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    return httpd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("addresses", nargs="+")
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    handler = functools.partial(Quiet, directory=args.root)
    servers = []
    for address in args.addresses:
        servers.append(server(address, 80, handler, None))
        servers.append(server(address, 443, handler, context))
    for httpd in servers:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print("listening on " + " ".join(f"{a}:80,443" for a in args.addresses), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for httpd in servers:
        httpd.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
