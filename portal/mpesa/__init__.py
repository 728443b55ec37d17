"""M-Pesa through Safaricom's Daraja API: the client, its result codes, callbacks, and the accounts."""
