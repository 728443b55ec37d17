"""Which tenants' rows an admin may see. Every admin query filters on one of these."""

from dataclasses import dataclass

from ..store import marks


@dataclass(frozen=True)
class Scope:
    tenant_ids: tuple[int, ...]
    platform_wide: bool = False  # a platform admin looking at every tenant, and at events of none

    def where(self, column: str) -> tuple[str, list[int]]:
        """SQL that keeps `column` to these tenants, with its parameters: `tenant_id IN (?, ?)`."""
        return f"{column} IN ({marks(self.tenant_ids)})", list(self.tenant_ids)

    @property
    def single(self) -> int | None:
        """The tenant new rows go to; None when the admin looks at several and must pick one."""
        return self.tenant_ids[0] if len(self.tenant_ids) == 1 else None


def of_tenant(tenant_id: int) -> Scope:
    return Scope((tenant_id,))
