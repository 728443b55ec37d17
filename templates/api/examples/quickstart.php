<?php
// Send an M-Pesa prompt through the box, then read the payment back (PHP with its curl extension).
// PORTAL_API is the box's API address, e.g. http://127.0.0.1:8081/api/v1; PORTAL_TOKEN your API token.
$api = getenv('PORTAL_API');
$token = getenv('PORTAL_TOKEN');

function call(string $method, string $url, string $token, ?array $body = null, array $headers = []): array
{
    $headers[] = "Authorization: Bearer $token";
    $curl = curl_init($url);
    if ($body !== null) {
        $headers[] = 'Content-Type: application/json';
        curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body));
    }
    curl_setopt_array($curl, [
        CURLOPT_CUSTOMREQUEST => $method,
        CURLOPT_HTTPHEADER => $headers,
        CURLOPT_RETURNTRANSFER => true,
    ]);
    $answer = json_decode(curl_exec($curl), true);
    $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    curl_close($curl);
    return [$status, $answer];
}

$order = ['phone' => '0712 345 678', 'amount' => 10, 'reference' => 'ORDER1001', 'description' => 'Laundry'];
// The same key and body within 24 hours answer the same payment: retrying after a timeout is safe.
[$status, $payment] = call('POST', "$api/payments", $token, $order, ['Idempotency-Key: order-1001']);
if ($status !== 201) {
    // RFC 9457 problem details: branch on its "type"
    fwrite(STDERR, "$status {$payment['type']}: {$payment['detail']}\n");
    exit(1);
}
echo "sent {$payment['id']} {$payment['state']}\n";

// Later, or when the payment.paid webhook arrives: the payment as it stands now.
[, $payment] = call('GET', "$api/payments/{$payment['id']}", $token);
echo "now {$payment['id']} {$payment['state']} " . ($payment['receipt'] ?? '') . "\n";
