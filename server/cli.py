"""The ``negocia`` command line: ``db upgrade``, ``import-portfolio``, ``users create``, ``run``,
``telegram-poll``."""

from __future__ import annotations

import argparse
import getpass
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

    from server.logging_setup import configure_logging
    from server.main import create_app

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.is_production and (problems := settings.production_problems()):
        print("Configuração insegura para produção:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    # log_config=None: uvicorn's loggers go through our JSON, masking handler.
    uvicorn.run(
        create_app(settings, freeze_heap_on_start=True),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
    )
    return 0


def _cmd_telegram_poll(args: argparse.Namespace) -> int:
    from server.container import build_container
    from server.telegram_runtime import run_polling

    settings = get_settings()
    if settings.telegram_bot_token is None:
        print("Defina NEGOCIA_TELEGRAM_BOT_TOKEN para usar o Telegram.", file=sys.stderr)
        return 2
    container = build_container(settings)
    try:
        print("Recebendo mensagens do Telegram por long polling (Ctrl-C para sair).")
        run_polling(container)  # same handlers as the webhook; Rasa must be running (negocia run)
    finally:
        container.close()
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from server.container import build_container
    from server.dunning_runtime import build_worker

    settings = get_settings()
    if not settings.redis_url:
        print(
            "Defina NEGOCIA_REDIS_URL para usar o worker; sem Redis os lembretes rodam dentro de "
            "`negocia serve`.",
            file=sys.stderr,
        )
        return 2
    container = build_container(settings)
    try:
        print("Worker de lembretes (arq) em execução (Ctrl-C para sair).")
        build_worker(container.dunning, settings.redis_url, settings.arq_queue_name).run()
    finally:
        container.close()
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


def _cmd_lgpd(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from server.db.session import make_engine, make_session_factory
    from server.domain.phone import InvalidPhone, normalize_phone
    from server.services import lgpd

    try:
        phone = normalize_phone(args.phone)
    except InvalidPhone as exc:
        print(f"telefone inválido: {args.phone!r} ({exc})", file=sys.stderr)
        return 2
    engine = make_engine(get_settings().database_url)
    now = datetime.now(UTC)
    try:
        with make_session_factory(engine)() as session:
            if args.lgpd_command == "export":
                data = lgpd.export_contact(session, phone, now)
                print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
                return 0
            result = lgpd.erase_contact(session, phone, now, args.reason)
            session.commit()
    except lgpd.NoContact:
        print(f"nenhum contato com o telefone {phone}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    kept = ", ".join(result.agreements_kept) or "nenhum"
    failed = lgpd.delete_media_files(get_settings().media_dir, result.media_paths)
    print(
        f"Contato anonimizado: {result.contacts} contato(s), {result.conversations} conversa(s), "
        f"{result.messages} mensagem(ns), {len(result.media_paths) - len(failed)} anexo(s) apagado(s). "
        f"Acordos mantidos como prova: {kept}."
    )
    if failed:
        print("não foi possível apagar estes anexos (apague-os à mão): " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


class _CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _read_new_password() -> str:
    """First line of stdin when piped; otherwise prompted twice without echo."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Senha: ")
    if getpass.getpass("Repita a senha: ") != first:
        raise _CliError("as senhas não conferem")
    return first


def _cmd_users_create(args: argparse.Namespace) -> int:
    try:
        message = _create_user(args.email, args.role, args.name)
    except _CliError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    print(message)
    return 0


def _create_user(email: str, role: str, name: str) -> str:
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from server.db.session import make_engine, make_session_factory
    from server.services import users

    try:
        normalized = users.normalize_email(email)
    except users.UserError as exc:
        raise _CliError(str(exc)) from exc
    engine = make_engine(get_settings().database_url)
    try:
        with make_session_factory(engine)() as session:
            if not inspect(session.connection()).has_table("users"):
                raise _CliError("banco não inicializado: rode `negocia db upgrade`", code=2)
            # Checked before asking for the password, so nobody types it twice for nothing.
            if users.get_by_email(session, normalized) is not None:
                raise _CliError(f"já existe um usuário com o e-mail {normalized}")
            password = _read_new_password()
            try:
                user = users.create_user(session, normalized, password, role, name)
            except users.UserError as exc:
                raise _CliError(str(exc)) from exc
            session.commit()
            return f"Usuário {user.email} criado ({users.ROLE_LABELS[user.role]})."
    except SQLAlchemyError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _CliError(f"erro no banco de dados: {first_line}", code=2) from exc
    finally:
        engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="negocia", description="negocia: negociação de dívidas B2B")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="banco de dados").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="aplica as migrações").set_defaults(func=_cmd_db_upgrade)

    imp = sub.add_parser("import-portfolio", help="importa a carteira de recebíveis (CSV)")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="valida sem gravar")
    imp.set_defaults(func=_cmd_import_portfolio)

    users = sub.add_parser("users", help="usuários da equipe").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="cria um usuário; senha pela entrada padrão ou digitada")
    create.add_argument("email")
    create.add_argument("--role", required=True, choices=["admin", "collector"])
    create.add_argument("--name", default="", help="nome exibido no console")
    create.set_defaults(func=_cmd_users_create)

    run = sub.add_parser("run", help="sobe servidor, Rasa e servidor de ações")
    run.add_argument("--no-demo", action="store_true", help="não carrega os dados de demonstração")
    run.set_defaults(func=_cmd_run)

    train = sub.add_parser("train", help="treina o modelo Rasa se domínio, config ou dados mudaram")
    train.add_argument("--force", action="store_true")
    train.set_defaults(func=_cmd_train)

    sub.add_parser("serve", help="sobe só o servidor HTTP").set_defaults(func=_cmd_serve)
    sub.add_parser(
        "worker", help="worker de lembretes e cobrança (arq, precisa de NEGOCIA_REDIS_URL)"
    ).set_defaults(func=_cmd_worker)
    sub.add_parser(
        "telegram-poll",
        help="recebe mensagens do Telegram por long polling (desenvolvimento, sem URL pública)",
    ).set_defaults(func=_cmd_telegram_poll)

    lgpd = sub.add_parser("lgpd", help="direitos do titular (LGPD)").add_subparsers(
        dest="lgpd_command", required=True
    )
    export = lgpd.add_parser("export", help="tudo o que guardamos sobre um contato, em JSON")
    export.add_argument("--phone", required=True)
    export.set_defaults(func=_cmd_lgpd)
    erase = lgpd.add_parser("erase", help="anonimiza o contato (acordos ficam como prova)")
    erase.add_argument("--phone", required=True)
    erase.add_argument("--reason", default="solicitação do titular (LGPD art. 18, VI)")
    erase.set_defaults(func=_cmd_lgpd)

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
