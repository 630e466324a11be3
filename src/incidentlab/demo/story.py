"""The demo incident's story: one clock, the planted anomalies, and the ground-truth manifest."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# 2026-03-01, times in UTC. The provider starts rate-limiting at 10:00; recovery by 11:00.
T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
STORM_START = T0 + timedelta(hours=1)
MITIGATED = T0 + timedelta(hours=2)
RESOLVED = T0 + timedelta(hours=2, minutes=30)
END = T0 + timedelta(hours=3)
LOCAL_TZ = "Europe/Berlin"  # where the Tapps machine wrote its naive local times

# Secrets planted in evidence; no report may show them.
SECRETS = {
    "openai_key": "sk-demo4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
    "github_token": "ghp_demo1234567890abcdefghijklmnopqrstuv",
    "bearer": "Bearer eyJhbGciOiJIUzI1NiJ9.demo.payload",
}
XSS_PAYLOAD = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


@dataclass
class Story:
    """Shared state while writing a bundle: seeded randomness and the manifest being built."""

    seed: int = 7
    scale: int = 1
    rng: random.Random = field(init=False)
    manifest: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.manifest = {
            "seed": self.seed,
            "scale": self.scale,
            "window": {"start": T0.isoformat(), "end": END.isoformat()},
            "milestones": {
                "started": STORM_START.isoformat(),
                "mitigated": MITIGATED.isoformat(),
                "resolved": RESOLVED.isoformat(),
            },
            "replay_violations": [],
            "alerts": [],
            "failure_modes": [],
            "quarantined": [],
            "secrets": sorted(SECRETS.values()),
            "xss_payload": XSS_PAYLOAD,
            "counts": {},
            "tz": LOCAL_TZ,
        }

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def uuid7(self, at: datetime) -> str:
        """A UUIDv7-shaped id whose prefix sorts by time, as CodingBuddy writes them."""
        millis = int(at.timestamp() * 1000)
        tail = self.rng.getrandbits(74)
        value = (millis << 80) | (0x7 << 76) | ((tail >> 62) << 64) | (0b10 << 62) | (
            tail & ((1 << 62) - 1))
        return str(uuid.UUID(int=value))

    def jitter(self, at: datetime, seconds: float) -> datetime:
        return at + timedelta(seconds=self.rng.uniform(0, seconds))

    def count(self, source: str, n: int = 1) -> None:
        self.manifest["counts"][source] = self.manifest["counts"].get(source, 0) + n

    def violation(self, system: str, stream: str, rule: str, **where: Any) -> None:
        self.manifest["replay_violations"].append(
            {"system": system, "stream": stream, "rule": rule, **where})

    def alert(self, rule: str, group: str, first_window: datetime, level: str) -> None:
        self.manifest["alerts"].append({"rule": rule, "group": group, "level": level,
                                        "first_window": first_window.isoformat()})

    def failure_mode(self, system: str, mode: str) -> None:
        self.manifest["failure_modes"].append({"system": system, "mode": mode})

    def quarantine(self, path: str, record_no: int, why: str) -> None:
        self.manifest["quarantined"].append({"path": path, "record_no": record_no, "why": why})


def rfc3339(at: datetime, digits: int = 6, zulu: bool = True) -> str:
    """chrono-style RFC 3339 with a chosen number of fractional digits (0, 3, 6, 9)."""
    base = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        frac = f"{at.microsecond:06d}" + "000"
        base += "." + frac[:digits]
    return base + ("Z" if zulu else "+00:00")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
