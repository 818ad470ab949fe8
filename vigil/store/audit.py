"""The audit log: who did what, when (every mutating request, every login attempt)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from vigil.store.database import Database
from vigil.store.schema import AuditEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str | None
    action: str
    target: str | None
    status: int
    ip: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, actor: str | None, action: str, target: str | None, status: int, ip: str | None) -> None:
        try:
            with self.db.writer.begin() as conn:
                conn.execute(
                    insert(AuditEntry).values(
                        actor=actor, action=action[:200], target=target, status=status, ip=ip
                    )
                )
        except SQLAlchemyError:  # the action itself already happened: never fail it for its log line
            log.exception("could not write the audit entry %s %s by %s", action, target, actor)

    def page(self, limit: int = 100, offset: int = 0) -> tuple[int, list[AuditRecord]]:
        with self.db.reader.connect() as conn:
            total = conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
            rows = conn.execute(
                select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
            ).all()
        return int(total), [
            AuditRecord(r.id, r.at, r.actor, r.action, r.target, r.status, r.ip) for r in rows
        ]
