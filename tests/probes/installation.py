"""Tenancy-walk probes of the installation: an account's administrator is no super admin, so every
installation field and mutation, even naming another account, is FORBIDDEN and changes nothing."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

_ACCOUNT = lambda w: {"a": w.admin_b.account_id}  # noqa: E731

PROBES: dict[str, Probe | str] = {
    "installation": Probe(
        "{ installation { accounts { edges { node { id name usage { members } } } } settings { signupEnabled } } }",
        inside_a="FORBIDDEN",
    ),
    "installationAccountSuspend": Probe(
        f"mutation($a: ID!) {{ installationAccountSuspend(input: {{accountId: $a}}) {{ account {{ id }} "
        f"{PAYLOAD_ERRORS} }} }}",
        _ACCOUNT,
        inside_a="FORBIDDEN",
    ),
    "installationAccountReactivate": Probe(
        f"mutation($a: ID!) {{ installationAccountReactivate(input: {{accountId: $a}}) {{ account {{ id }} "
        f"{PAYLOAD_ERRORS} }} }}",
        _ACCOUNT,
        inside_a="FORBIDDEN",
    ),
    "installationAccountLimitsUpdate": Probe(
        f"mutation($a: ID!) {{ installationAccountLimitsUpdate(input: {{accountId: $a, maxAgents: 1}}) "
        f"{{ account {{ id }} {PAYLOAD_ERRORS} }} }}",
        _ACCOUNT,
        inside_a="FORBIDDEN",
    ),
    "installationSettingsUpdate": Probe(
        f"mutation {{ installationSettingsUpdate(input: {{signupEnabled: false}}) {{ settings {{ signupEnabled }} "
        f"{PAYLOAD_ERRORS} }} }}",
        inside_a="FORBIDDEN",
    ),
}
