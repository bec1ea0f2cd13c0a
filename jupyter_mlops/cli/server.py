"""``server``: the team's tracking server (our REST API, the MLflow REST API, users and roles)."""
from __future__ import annotations


def register(sub) -> None:
    from ..server.roles import DEFAULT_HOST, DEFAULT_PORT

    p = sub.add_parser("server", help="run the tracking server: remote clients and MLflow clients log to it "
                       "with a token, without database credentials")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: this "
                   "machine only; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument("--store", metavar="URI", help="tracking store (path or SQLAlchemy URL); default as --uri")
    p.add_argument("--artifacts", metavar="URI", help="artifact store (path, file://, s3://...); default: "
                   "MLOPS_ARTIFACT_URI, else beside the store")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a name clients reach this server by (repeatable); requests naming another Host are "
                   "refused (DNS rebinding). localhost and loopback addresses are always allowed")
    p.add_argument("--allow-origin", default="", metavar="URL",
                   help="the one web origin allowed to call from a browser (default: none)")
    p.set_defaults(handler=cmd_server)


def cmd_server(args) -> int:
    from ..exceptions import InvalidInputError
    from ..server.standalone import serve

    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port must be between 1 and 65535, got {args.port}")
    serve(host=args.host, port=args.port, store=args.store, artifacts=args.artifacts,
          allowed_hosts=tuple(args.allowed_host), allow_origin=args.allow_origin)
    return 0
