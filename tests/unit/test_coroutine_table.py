"""Relaygate (the app's Flask) asks once per function whether it is a coroutine function: the
answer is Flask's own, and the table keeps functions, never a request's bound method."""

from app import Relaygate


def plain():
    return "plain"


async def coroutine():
    return "coroutine"


class View:
    def get(self):
        return "get"

    async def post(self):
        return "post"


def app_marking_async() -> Relaygate:
    app = Relaygate(__name__)
    app.async_to_sync = lambda func: ("made sync", func)  # type: ignore[method-assign]
    return app


def test_a_plain_function_or_method_is_run_as_it_is_every_time():
    app = app_marking_async()
    for _ in range(3):
        method = View().get
        assert app.ensure_sync(plain) is plain
        assert app.ensure_sync(method) is method


def test_a_coroutine_function_or_method_is_made_synchronous_every_time():
    app = app_marking_async()
    for _ in range(3):
        method = View().post
        assert app.ensure_sync(coroutine) == ("made sync", coroutine)
        assert app.ensure_sync(method) == ("made sync", method)


def test_the_table_holds_each_function_once_and_no_view_instance():
    app = app_marking_async()
    for _ in range(5):
        app.ensure_sync(View().get)
        app.ensure_sync(View().post)
        app.ensure_sync(plain)
    assert app._coroutine == {View.get: False, View.post: True, plain: False}


def test_other_callables_get_flasks_own_answer_unremembered():
    app = app_marking_async()
    table_before = dict(app._coroutine)
    assert app.ensure_sync(len) is len
    assert app._coroutine == table_before
