"""`ddb-blueprint:alarms`: where alarms go and the thresholds of this environment.

Every field has a default, so a stack file sets only what differs (prod may be stricter than dev).
The alarm kinds themselves are not configurable: they are declared once per resource kind
(`spec.ALARM_KINDS`), so every table, function, queue and stage gets the same set.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..config.base import Strict

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/\S*)?$")


class Subscription(Strict):
    protocol: Literal["email", "https"] = Field(description="email (confirmed by the recipient) or https (an incident tool's endpoint).")
    endpoint: str = Field(description="The email address or the https:// URL.")

    @model_validator(mode="after")
    def _endpoint_matches_protocol(self) -> "Subscription":
        if self.protocol == "email" and not EMAIL.match(self.endpoint):
            raise ValueError(f"endpoint {self.endpoint!r} is not an email address (protocol email)")
        if self.protocol == "https" and not HTTPS_URL.match(self.endpoint):
            raise ValueError(f"endpoint {self.endpoint!r} is not an https:// URL (protocol https; plain http is refused)")
        return self


class Thresholds(Strict):
    """Per environment. Counts are per evaluation period (`periodSeconds`)."""

    tableThrottleEvents: int = Field(default=1, ge=1, description="Read or write throttle events of a table or GSI.")
    tableSystemErrors: int = Field(default=1, ge=1, description="DynamoDB system errors (HTTP 500) of a table, all operations.")
    functionErrors: int = Field(default=1, ge=1, description="Errors (invocations that failed) of a function.")
    functionThrottles: int = Field(default=1, ge=1, description="Throttled invocations of a function.")
    iteratorAgeSeconds: int = Field(default=300, ge=1, le=86_400, description="Age of the newest record a stream function has read.")
    api5xxRatePercent: float = Field(default=1.0, gt=0, le=100, description="Share of the stage's requests answered 5XX.")
    api5xxMinimumRequests: int = Field(default=20, ge=1, description="Requests per period below which the 5XX rate is not judged.")
    apiLatencyP99Ms: int = Field(default=2_000, ge=1, le=29_000, description="p99 of the stage's Latency (API Gateway times out at 29 s).")
    replicationLatencyMs: int = Field(default=60_000, ge=1, description="Average ReplicationLatency to a replica region.")
    daxCpuPercent: int = Field(default=80, ge=1, le=100, description="Average CPUUtilization of a DAX cluster.")
    daxThrottledRequests: int = Field(default=1, ge=1, description="ThrottledRequestCount of a DAX cluster.")
    daxEvictionBand: float = Field(default=3.0, gt=0, le=10, description="Width (standard deviations) of the anomaly band of EvictedSize.")


class AlarmSettings(Strict):
    periodSeconds: Literal[60, 300] = Field(default=60, description="Evaluation period of every alarm (60 or 300 seconds).")
    evaluationPeriods: int = Field(default=5, ge=1, le=60, description="Periods each alarm looks at.")
    datapointsToAlarm: int = Field(default=3, ge=1, le=60, description="Breaching periods among them that set ALARM (M of N).")
    subscriptions: list[Subscription] = Field(default=[], description="Who the alarm topic notifies.")
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @model_validator(mode="after")
    def _m_of_n(self) -> "AlarmSettings":
        if self.datapointsToAlarm > self.evaluationPeriods:
            raise ValueError(f"datapointsToAlarm {self.datapointsToAlarm} exceeds evaluationPeriods {self.evaluationPeriods} (M of N needs M <= N)")
        return self

    @field_validator("subscriptions")
    @classmethod
    def _distinct(cls, subscriptions: list[Subscription]) -> list[Subscription]:
        seen = set()
        for s in subscriptions:
            if (s.protocol, s.endpoint) in seen:
                raise ValueError(f"{s.protocol} {s.endpoint} is listed twice")
            seen.add((s.protocol, s.endpoint))
        return subscriptions
