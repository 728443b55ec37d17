// Send an M-Pesa prompt through the box, then read the payment back (Node 18+, fetch).
// PORTAL_API is the box's API address, e.g. http://127.0.0.1:8081/api/v1; PORTAL_TOKEN your API token.
const api = process.env.PORTAL_API;
const auth = { Authorization: `Bearer ${process.env.PORTAL_TOKEN}` };
const order = { phone: "0712 345 678", amount: 10, reference: "ORDER1001", description: "Laundry" };

// The same key and body within 24 hours answer the same payment: retrying after a timeout is safe.
const created = await fetch(`${api}/payments`, {
  method: "POST",
  headers: { ...auth, "Content-Type": "application/json", "Idempotency-Key": "order-1001" },
  body: JSON.stringify(order),
});
let payment = await created.json();
if (created.status !== 201) {
  // RFC 9457 problem details: branch on its "type"
  console.error(`${created.status} ${payment.type}: ${payment.detail}`);
  process.exit(1);
}
console.log("sent", payment.id, payment.state);

// Later, or when the payment.paid webhook arrives: the payment as it stands now.
payment = await (await fetch(`${api}/payments/${payment.id}`, { headers: auth })).json();
console.log("now", payment.id, payment.state, payment.receipt ?? "");
