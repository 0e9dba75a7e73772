"""Throttles of sign-in, password-reset requests and sign-up, built so that an attacker can slow
down guessing but cannot lock the real owner out.

Sign-in: an attempt is reserved (checked and counted in one atomic step) before any password is
hashed, so concurrent guesses cannot all pass the check; a success takes its reservation back.
- per email and IP: a few failures, then a progressive delay (doubling up to a ceiling) — only this
  pair is slowed down, so guesses from one address never block the owner elsewhere;
- per IP across emails: a ceiling against spraying one password over many accounts;
- per email: a global ceiling high enough that one address cannot reach it;
- a known device (the device token issued by an earlier successful sign-in of that user) skips the
  three above and has only its own progressive limit, so the owner gets in even during an attack;
- a successful password reset clears the email's ceiling and its own address's delay.
Password-reset requests and sign-ups have their own counters: they never block a sign-in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.errors import RateLimited


@dataclass(frozen=True)
class Rule:
    """`limit` attempts per `window` seconds; reaching it refuses further attempts until the window
    ends — or, progressive (`block` > 0), for `block` seconds doubled with every further attempt, at
    most `max_block`, the count being kept `window` seconds after the last attempt."""

    key: str
    limit: int
    window: int
    block: int = 0
    max_block: int = 0


class Counter(Protocol):
    async def reserve(self, rules: Sequence[Rule]) -> float:
        """Count one attempt against every rule, or none: 0 when allowed, else the seconds to wait."""

    async def refund(self, rules: Sequence[Rule]) -> None: ...

    async def reset(self, keys: list[str]) -> None: ...


@dataclass(frozen=True)
class ThrottlePolicy:
    pair_failures: int = 5  # per email and IP before the delay starts
    block_seconds: int = 30  # first delay; doubles with every further failure
    max_block_seconds: int = 15 * 60
    pair_memory_seconds: int = 24 * 3600  # how long failures of a pair (or a device) are remembered
    ip_failures: int = 50  # per IP across emails, per ip_window_seconds
    ip_window_seconds: int = 15 * 60
    email_failures: int = 100  # per email from anywhere but known devices, per hour
    email_window_seconds: int = 3600
    device_failures: int = 5
    reset_per_email_per_hour: int = 3
    reset_per_ip_per_hour: int = 20
    signup_per_ip_per_hour: int = 5


@dataclass(frozen=True)
class Reservation:
    email: str
    ip: str | None
    rules: tuple[Rule, ...]


def _email(email: str) -> str:
    return email.strip().lower()[:320]


def _refused(message: str, wait: float) -> RateLimited:
    import math

    return RateLimited(message, retryAfter=max(1, math.ceil(wait)))


class LoginThrottle:
    def __init__(self, counter: Counter, policy: ThrottlePolicy | None = None) -> None:
        self.counter = counter
        self.policy = policy or ThrottlePolicy()

    def _rule(self, key: str, limit: int, window: int, progressive: bool = False) -> Rule:
        p = self.policy
        if progressive:
            return Rule(key, limit, window, p.block_seconds, p.max_block_seconds)
        return Rule(key, limit, window)

    def _pair_key(self, email: str, ip: str | None) -> str:
        return f"login:pair:{_email(email)}:{ip or '-'}"

    def _login_rules(self, email: str, ip: str | None, device: str | None) -> list[Rule]:
        p = self.policy
        if device is not None:
            return [self._rule(f"login:device:{device}", p.device_failures, p.pair_memory_seconds, True)]
        rules = [self._rule(self._pair_key(email, ip), p.pair_failures, p.pair_memory_seconds, True)]
        if ip:
            rules.append(self._rule(f"login:ip:{ip}", p.ip_failures, p.ip_window_seconds))
        rules.append(self._rule(f"login:email:{_email(email)}", p.email_failures, p.email_window_seconds))
        return rules

    async def reserve_login(self, email: str, ip: str | None, device: str | None = None) -> Reservation:
        """Count this attempt as a failure until it succeeds; refuse it when over a limit."""
        rules = self._login_rules(email, ip, device)
        wait = await self.counter.reserve(rules)
        if wait:
            raise _refused("Too many failed sign-in attempts; try again later", wait)
        return Reservation(_email(email), ip, tuple(rules))

    async def succeeded(self, reservation: Reservation) -> None:
        """A correct password: this pair's (or device's) failures are forgotten; the shared ceilings
        get their attempt back."""
        first, *shared = reservation.rules
        await self.counter.reset([first.key])
        await self.counter.refund(shared)

    async def reserve_password_check(self, user_id: int) -> Reservation:
        """A signed-in user confirms their current password (to change it): guesses with a stolen
        session are throttled like sign-ins, progressively, per user."""
        p = self.policy
        rules = [self._rule(f"password:user:{user_id}", p.pair_failures, p.pair_memory_seconds, True)]
        wait = await self.counter.reserve(rules)
        if wait:
            raise _refused("Too many wrong passwords; try again later", wait)
        return Reservation(str(user_id), None, tuple(rules))

    async def clear_email(self, email: str, ip: str | None) -> None:
        """After a successful password reset: the owner proved control of the email."""
        await self.counter.reset([f"login:email:{_email(email)}", self._pair_key(email, ip)])

    async def reserve_reset_request(self, email: str, ip: str | None) -> None:
        p = self.policy
        rules = [self._rule(f"reset:email:{_email(email)}", p.reset_per_email_per_hour, 3600)]
        if ip:
            rules.append(self._rule(f"reset:ip:{ip}", p.reset_per_ip_per_hour, 3600))
        wait = await self.counter.reserve(rules)
        if wait:
            raise _refused("Too many password-reset requests; try again later", wait)

    async def reserve_signup(self, ip: str | None) -> None:
        p = self.policy
        if p.signup_per_ip_per_hour <= 0:
            return
        wait = await self.counter.reserve([self._rule(f"signup:ip:{ip or '-'}", p.signup_per_ip_per_hour, 3600)])
        if wait:
            raise _refused("Too many sign-ups from this address; try again later", wait)
