"""In-memory stand-ins for the unit of work, for unit tests of services."""

from __future__ import annotations


class FakeModelRepository:
    def __init__(self, models):
        self.models = list(models)

    def list_matching(self, text: str):
        return [m for m in self.models if text in (m.id, m.name)]


class FakeUnitOfWork:
    def __init__(self, **repositories):
        self.__dict__.update(repositories)
        self.committed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def commit(self):
        self.committed = True


class FakeUnitOfWorkFactory:
    """What services receive in place of UnitOfWorkFactory: each call, and each `at_once`,
    gives a fake unit of work on the same repositories."""

    def __init__(self, **repositories):
        self.repositories = repositories

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(**self.repositories)

    def at_once(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(**self.repositories)
