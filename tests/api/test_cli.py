"""The create-admin command."""


def test_create_admin_makes_an_admin_who_can_log_in(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin"],
                           input="root\nlong enough pw\nlong enough pw\n")
    assert result.exit_code == 0, result.output
    assert "created admin root" in result.output
    response = app.test_client().post("/api/sessions/login",
                                      json={"username": "root", "password": "long enough pw"})
    assert response.status_code == 200


def test_create_admin_refuses_a_short_password_and_a_taken_name(app):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["create-admin", "--username", "x", "--password", "short"])
    assert short.exit_code != 0 and "at least 8" in short.output
    runner.invoke(args=["create-admin", "--username", "y", "--password", "long enough pw"])
    taken = runner.invoke(args=["create-admin", "--username", "y", "--password", "other pw!"])
    assert taken.exit_code != 0 and "exists" in taken.output


def test_the_first_admin_comes_from_the_environment_once(tmp_path, sqlite_url):
    from tests.support.apps import make_app

    for _ in range(2):
        app = make_app(tmp_path, sqlite_url, admin_username="boss",
                       admin_password="from the env")
    response = app.test_client().post("/api/sessions/login",
                                      json={"username": "boss", "password": "from the env"})
    assert response.status_code == 200
