"""The ``negocia`` command line: ``db upgrade``, ``import-portfolio``, ``users create``, ``run``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.settings import get_settings


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from server.db.migrate import upgrade

    upgrade(get_settings().database_url)
    print("Banco de dados atualizado.")
    return 0


def _cmd_import_portfolio(args: argparse.Namespace) -> int:
    from server.services.portfolio_import import run_import_cli

    return run_import_cli(Path(args.file), dry_run=args.dry_run, settings=get_settings())


def _cmd_run(args: argparse.Namespace) -> int:
    from server.runner import run_all

    return run_all(get_settings(), demo=not args.no_demo)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.main import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_level="info")
    return 0


def _cmd_demo_load(args: argparse.Namespace) -> int:
    from server.demo import load_demo

    created = load_demo(get_settings())
    print("Dados de demonstração carregados." if created else "Dados de demonstração já existiam.")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from server.rasa_model import ensure_model

    print(ensure_model(get_settings(), force=args.force))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="negocia", description="negocia: negociação de dívidas B2B")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="banco de dados").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="aplica as migrações").set_defaults(func=_cmd_db_upgrade)

    imp = sub.add_parser("import-portfolio", help="importa a carteira de recebíveis (CSV)")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="valida sem gravar")
    imp.set_defaults(func=_cmd_import_portfolio)

    run = sub.add_parser("run", help="sobe servidor, Rasa e servidor de ações")
    run.add_argument("--no-demo", action="store_true", help="não carrega os dados de demonstração")
    run.set_defaults(func=_cmd_run)

    train = sub.add_parser("train", help="treina o modelo Rasa se domínio, config ou dados mudaram")
    train.add_argument("--force", action="store_true")
    train.set_defaults(func=_cmd_train)

    sub.add_parser("serve", help="sobe só o servidor HTTP").set_defaults(func=_cmd_serve)

    demo = sub.add_parser("demo", help="dados de demonstração").add_subparsers(
        dest="demo_command", required=True
    )
    demo.add_parser("load").set_defaults(func=_cmd_demo_load)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
