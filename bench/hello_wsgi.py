"""The cheapest possible WSGI app, for api_throughput.py --floor: what gunicorn and wrk alone cost
on this machine (no Django, no database), the ceiling any Python endpoint here stays under."""


def app(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
