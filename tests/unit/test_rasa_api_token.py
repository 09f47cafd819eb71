"""Rasa's HTTP API: bound to 127.0.0.1 and token-protected; `negocia run` makes a token when none
is configured and hands the same one to the server it starts."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import SecretStr

from server.runner import build_services, child_env, with_rasa_token
from server.settings import Settings


def test_negocia_run_always_protects_rasas_api_with_a_token() -> None:
    settings = with_rasa_token(Settings(_env_file=None))  # type: ignore[call-arg]
    assert settings.rasa_auth_token is not None
    token = settings.rasa_auth_token.get_secret_value()
    assert len(token) >= 24
    rasa = next(s for s in build_services(settings, Path("m.tar.gz"), Path("e.yml")) if s.name == "rasa")
    argv = rasa.argv
    assert argv[argv.index("--interface") + 1] == "127.0.0.1"
    assert f"--auth-token={token}" in argv
    assert child_env(settings)["NEGOCIA_RASA_AUTH_TOKEN"] == token  # the server sends it


def test_a_configured_token_is_kept() -> None:
    settings = Settings(_env_file=None, rasa_auth_token=SecretStr("configured-token"))  # type: ignore[call-arg]
    assert with_rasa_token(settings).rasa_auth_token == SecretStr("configured-token")


def test_a_token_that_starts_with_a_dash_reaches_rasa_as_its_value() -> None:
    # token_urlsafe draws "-" first once in 64 runs; as a separate argument, argparse (Rasa's CLI)
    # read it as an unknown option and `rasa run` exited with "expected one argument".
    settings = Settings(_env_file=None, rasa_auth_token=SecretStr("-Xy_secret"))  # type: ignore[call-arg]
    rasa = next(s for s in build_services(settings, Path("m.tar.gz"), Path("e.yml")) if s.name == "rasa")
    parser = argparse.ArgumentParser()
    parser.add_argument("-t", "--auth-token")  # as rasa.cli.arguments.run declares it
    known, _rest = parser.parse_known_args(rasa.argv)
    assert known.auth_token == "-Xy_secret"
