"""Send an M-Pesa prompt through the box, then read the payment back (Python 3, httpx).
PORTAL_API is the box's API address, e.g. http://127.0.0.1:8081/api/v1; PORTAL_TOKEN your API token."""

import os

import httpx

api = httpx.Client(
    base_url=os.environ["PORTAL_API"],
    headers={"Authorization": f"Bearer {os.environ['PORTAL_TOKEN']}"},
    timeout=30,
)
order = {"phone": "0712 345 678", "amount": 10, "reference": "ORDER1001", "description": "Laundry"}
# The same key and body within 24 hours answer the same payment: retrying after a timeout is safe.
created = api.post("/payments", json=order, headers={"Idempotency-Key": "order-1001"})
if created.status_code != 201:
    problem = created.json()  # RFC 9457 problem details: branch on its "type"
    raise SystemExit(f"{created.status_code} {problem['type']}: {problem['detail']}")
payment = created.json()
print("sent", payment["id"], payment["state"])

# Later, or when the payment.paid webhook arrives: the payment as it stands now.
payment = api.get(f"/payments/{payment['id']}").raise_for_status().json()
print("now", payment["id"], payment["state"], payment["receipt"] or "")
