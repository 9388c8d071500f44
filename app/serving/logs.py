"""gunicorn's logger, keeping credentials sent in a URL (`?key=`) out of its access and error
logs: the request line is written whole otherwise (`%(r)s`, "Error handling request ...")."""

from __future__ import annotations

from gunicorn.glogging import Logger

from app.security import keep_url_secrets_out_of


class RedactingLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        keep_url_secrets_out_of(self.error_log)
        keep_url_secrets_out_of(self.access_log)
