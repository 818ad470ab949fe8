"""The cluster's table (migration 0017), on the store's declarative base: which run of each
cluster camera is the current one. Only `vigil.cluster.fence` reads or writes it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.schema import Base, UtcDateTime


class CameraRunRow(Base):
    """The run (one incarnation of a camera actor) allowed to write the camera's sightings and
    activity. A restarted actor takes the row over; the run it replaced is fenced off."""

    __tablename__ = "camera_runs"
    camera: Mapped[str] = mapped_column(String(200), primary_key=True)  # the camera's name
    run: Mapped[uuid.UUID] = mapped_column(Uuid)
    node: Mapped[str] = mapped_column(String(200))  # where that run is (IP and node id), for logs
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime)
