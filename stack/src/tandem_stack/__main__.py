"""`python -m tandem_stack db|api|run|dev|cluster`: the entry point behind the Makefile.

The runner's own messages go to stderr as `[stack] ...`; the children's output goes to
stdout, each line prefixed with the child's name.
"""

import argparse
import logging
import os
import sys

from tandem_stack import commands
from tandem_stack.config import StackConfig
from tandem_stack.dotenv import ensure_auth_secret, load_dotenv
from tandem_stack.errors import Interrupted, StackError
from tandem_stack.paths import RepoPaths, data_dir_from_env, find_root
from tandem_stack.supervisor import Supervisor

log = logging.getLogger("tandem_stack")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"[stack] {level}{message}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tandem_stack",
        description="Run Tandem: an embedded PostgreSQL (unless DATABASE_URL is set), "
        "the FastAPI back end and the Next.js front end.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    sub.add_parser("db", help="prepare and migrate the database; keep it running")
    api = sub.add_parser("api", help="the database and FastAPI")
    api.add_argument("--reload", action="store_true", help="restart the API when code changes")
    run = sub.add_parser("run", help="the whole stack, production build")
    run.add_argument("--rebuild", action="store_true", help="rebuild the web app even if current")
    sub.add_parser("dev", help="the whole stack with hot reload")
    cluster = sub.add_parser(
        "cluster", help="CLUSTER_SIZE web and API instances behind HAProxy, with Redis"
    )
    cluster.add_argument(
        "--rebuild", action="store_true", help="rebuild the web app even if current"
    )
    cluster.add_argument(
        "--no-build", action="store_true", help="serve the existing web build as it is"
    )
    return parser


def _dispatch(args: argparse.Namespace, config: StackConfig, supervisor: Supervisor) -> None:
    if args.command == "db":
        commands.db(config, supervisor)
    elif args.command == "api":
        commands.api(config, supervisor, reload=args.reload)
    elif args.command == "cluster":
        commands.cluster(config, supervisor, build=not args.no_build, rebuild=args.rebuild)
    else:
        dev = args.command == "dev"
        commands.run(config, supervisor, dev=dev, rebuild=getattr(args, "rebuild", False))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    status = 0
    try:
        paths = RepoPaths(find_root(), data_dir=data_dir_from_env())
        ensure_auth_secret(paths.env_file)
        load_dotenv(paths.env_file)
        config = StackConfig.from_env(paths, os.environ)
        with Supervisor(paths.run_dir) as supervisor:
            try:
                _dispatch(args, config, supervisor)
            except Interrupted:
                pass
            except StackError as error:
                # Said before the shutdown, so the cause comes before the children's goodbyes.
                log.error("%s", error)
                status = 1
    except StackError as error:
        log.error("%s", error)
        return 1
    except KeyboardInterrupt:
        pass  # Ctrl-C before the supervisor took over the signal: nothing was started yet
    log.info("stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
