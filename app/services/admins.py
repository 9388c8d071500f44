"""AdminService: creating administrators."""

from __future__ import annotations

from typing import Unpack

from app.db.models import Admin
from app.errors import Conflict, DatabaseError, DuplicateRecord, InvalidInput
from app.security import Passwords
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

MIN_PASSWORD_LENGTH = 8


class AdminService(Service):
    def __init__(self, *, passwords: Passwords, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.passwords = passwords

    @db_retry
    def create(self, username: str, password: str) -> Admin:
        username = (username or "").strip()
        if not username or len(username) > 100:
            raise InvalidInput("The username must be 1 to 100 characters.")
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
        # Hashed before the transaction: no database connection waits on argon2.
        password_hash = self.passwords.hash(password)
        with self.uow() as uow:
            if uow.admins.get_by_username(username):
                raise DuplicateRecord("An admin with that username exists.")
            admin = Admin(username=username, password_hash=password_hash,
                          created_at=self.clock())
            uow.admins.add(admin)
            uow.commit()
        return admin

    @db_retry
    def exists(self) -> bool:
        """Is there any admin yet?"""
        with self.uow() as uow:
            return bool(uow.admins.count())

    def ensure_initial(self, username: str, password: str) -> bool:
        """Create the first admin unless one exists; True when one was created."""
        with self.uow() as uow:
            if uow.admins.count():
                return False
        try:
            self.create(username, password)
        except Conflict:
            return False  # another worker created it first
        except DatabaseError as error:
            if error.code != DuplicateRecord.code:
                raise
            return False  # another worker's insert won the race
        return True
