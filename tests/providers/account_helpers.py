"""What the provider-account tests share: checks by name, and the rule that no result holds a secret."""

from pivot.providers.account_kit import Check, SetupStep


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def assert_no_secret(results: list[Check] | list[SetupStep], *secrets: str, tail: int = 0) -> None:
    """No result mentions a secret (nor, with `tail`, its last characters, which some providers quote)."""
    text = " ".join(result.model_dump_json() for result in results)
    for secret in secrets:
        assert secret not in text
        if tail:
            assert secret[-tail:] not in text
