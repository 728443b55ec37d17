"""Which tenants' rows an admin may see. Every admin query filters on one of these.

In SQL: `WHERE x.tenant_id IN (SELECT value FROM json_each(?))` with `scope.param` as the parameter:
a JSON list keeps it one parameter however many tenants a platform admin sees.
"""

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    tenant_ids: tuple[int, ...]
    platform_wide: bool = False  # a platform admin looking at every tenant, and at events of none

    @property
    def param(self) -> str:
        return json.dumps(self.tenant_ids)

    @property
    def single(self) -> int | None:
        """The tenant new rows go to; None when the admin looks at several and must pick one."""
        return self.tenant_ids[0] if len(self.tenant_ids) == 1 else None
