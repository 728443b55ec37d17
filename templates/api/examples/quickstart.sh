#!/bin/sh
# Send an M-Pesa prompt through the box, then read the payment back (curl).
# PORTAL_API is the box's API address, e.g. http://127.0.0.1:8081/api/v1; PORTAL_TOKEN your API token.
set -eu
curl -sS --fail-with-body "$PORTAL_API/payments" \
  -H "Authorization: Bearer $PORTAL_TOKEN" \
  -H "Content-Type: application/json" \
  -H "Idempotency-Key: order-1001" \
  -d '{"phone": "0712 345 678", "amount": 10, "reference": "ORDER1001", "description": "Laundry"}'
echo
# The answer's "id" reads it back (/payments/<id>); or find the latest with its reference:
curl -sS --fail-with-body "$PORTAL_API/payments?reference=ORDER1001&limit=1" \
  -H "Authorization: Bearer $PORTAL_TOKEN"
echo
