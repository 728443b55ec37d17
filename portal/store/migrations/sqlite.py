"""The SQLite schema, as an append-only list of migrations numbered by `PRAGMA user_version`.

Never edit a migration that has shipped: append a new one. Conventions: money is whole Kenyan
shillings (INTEGER); times are UTC ISO 8601 text (see clock.to_text); secrets are Fernet tokens in
columns ending in `_enc` (each owner re-encrypts its own on `portal keys rotate`); codes a person types
are stored as SHA-256 in columns ending in `_hash`. Every row that belongs to a hotspot business
carries `tenant_id`.
"""

MIGRATIONS: list[str] = [
    # 1: the aggregates of DESIGN.md
    """
    CREATE TABLE tenants (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE CHECK (slug <> '' AND slug NOT GLOB '*[^a-z0-9-]*'),
        name TEXT NOT NULL,
        support_phone TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    );

    CREATE TABLE admin_users (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER REFERENCES tenants(id),
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('platform', 'owner', 'staff')),
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        created_at TEXT NOT NULL,
        CHECK ((role = 'platform') = (tenant_id IS NULL))
    );

    CREATE TABLE admin_sessions (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES admin_users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        -- The tenant a platform admin has picked to look at; NULL = all of them.
        viewing_tenant_id INTEGER REFERENCES tenants(id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX admin_sessions_by_user ON admin_sessions (user_id);

    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
    );

    CREATE TABLE mpesa_accounts (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        shortcode TEXT NOT NULL CHECK (shortcode <> '' AND shortcode NOT GLOB '*[^0-9]*'),
        kind TEXT NOT NULL CHECK (kind IN ('paybill', 'till')),
        till_number TEXT CHECK (till_number IS NULL OR till_number NOT GLOB '*[^0-9]*'),
        environment TEXT NOT NULL,
        consumer_key_enc TEXT NOT NULL,
        consumer_secret_enc TEXT NOT NULL,
        passkey_enc TEXT NOT NULL,
        -- the secret path segment of this account's C2B confirmation and validation URLs
        c2b_token TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        CHECK ((kind = 'till') = (till_number IS NOT NULL))
    );

    CREATE TABLE routers (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL UNIQUE CHECK (name <> '' AND name NOT GLOB '*[^A-Za-z0-9_.-]*'),
        host TEXT NOT NULL,
        port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        use_tls INTEGER NOT NULL DEFAULT 0 CHECK (use_tls IN (0, 1)),
        username TEXT NOT NULL,
        password_enc TEXT NOT NULL,
        hotspot_server TEXT NOT NULL DEFAULT 'all',
        mpesa_account_id INTEGER REFERENCES mpesa_accounts(id),
        last_seen_at TEXT,
        last_error TEXT,
        last_sync_at TEXT,
        created_at TEXT NOT NULL
    );

    CREATE TABLE packages (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        price INTEGER NOT NULL CHECK (price BETWEEN 1 AND 250000),
        duration_seconds INTEGER NOT NULL CHECK (duration_seconds > 0),
        rate_limit TEXT NOT NULL DEFAULT '',
        data_cap_bytes INTEGER CHECK (data_cap_bytes IS NULL OR data_cap_bytes > 0),
        position INTEGER NOT NULL DEFAULT 0,
        hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    -- Paid time for one device on one router. Paid time starts when the router confirms access.
    CREATE TABLE access_sessions (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        router_id INTEGER NOT NULL REFERENCES routers(id),
        package_id INTEGER NOT NULL REFERENCES packages(id),
        mac TEXT NOT NULL,
        ip TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'expired', 'revoked')),
        paid_seconds INTEGER NOT NULL CHECK (paid_seconds > 0),
        access_code_hash TEXT NOT NULL UNIQUE,
        access_code_enc TEXT NOT NULL,
        started_at TEXT,
        expires_at TEXT,
        ended_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX access_sessions_one_live_per_device
        ON access_sessions (router_id, mac) WHERE state IN ('pending', 'active');
    CREATE INDEX access_sessions_expiry ON access_sessions (expires_at) WHERE state = 'active';

    CREATE TABLE payments (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        ref TEXT NOT NULL UNIQUE,
        callback_token TEXT NOT NULL UNIQUE,
        mpesa_account_id INTEGER NOT NULL REFERENCES mpesa_accounts(id),
        package_id INTEGER NOT NULL REFERENCES packages(id),
        router_id INTEGER REFERENCES routers(id),
        mac TEXT,
        ip TEXT,
        phone TEXT NOT NULL
            CHECK (length(phone) = 12 AND phone GLOB '254[17]*' AND phone NOT GLOB '*[^0-9]*'),
        amount INTEGER NOT NULL CHECK (amount BETWEEN 1 AND 250000),
        state TEXT NOT NULL CHECK (state IN ('created', 'pending', 'paid', 'failed', 'expired', 'reversed')),
        merchant_request_id TEXT,
        checkout_request_id TEXT UNIQUE,
        result_code TEXT,
        result_desc TEXT,
        receipt TEXT UNIQUE,
        access_session_id INTEGER REFERENCES access_sessions(id),
        idempotency_key TEXT,
        request_hash TEXT,
        query_count INTEGER NOT NULL DEFAULT 0,
        next_query_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        paid_at TEXT,
        reversed_reason TEXT
    );
    -- Daraja locks a subscriber with a prompt open: one open push per phone number, whoever asks.
    CREATE UNIQUE INDEX payments_one_open_per_phone ON payments (phone) WHERE state IN ('created', 'pending');
    CREATE INDEX payments_due_query ON payments (next_query_at) WHERE state IN ('created', 'pending');
    CREATE INDEX payments_by_tenant_time ON payments (tenant_id, created_at);
    -- The admin's earnings (per day, package, router: read from this index alone), and the payment
    -- behind an access session.
    CREATE INDEX payments_paid ON payments (tenant_id, paid_at, amount, package_id, router_id)
        WHERE state = 'paid';
    CREATE INDEX payments_by_access_session ON payments (access_session_id)
        WHERE access_session_id IS NOT NULL;
    CREATE INDEX payments_by_phone ON payments (phone);  -- "I paid but I'm not online": found by number
    CREATE INDEX payments_by_mac ON payments (mac, created_at) WHERE mac IS NOT NULL;  -- push limits
    CREATE INDEX payments_by_idempotency_key ON payments (tenant_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;

    -- Everything that happened to a payment: what arrived, from where, when.
    CREATE TABLE payment_events (
        id INTEGER PRIMARY KEY,
        payment_id INTEGER NOT NULL REFERENCES payments(id),
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX payment_events_by_payment ON payment_events (payment_id, id);

    -- Money sent by hand to a PayBill or Till, claimable once by its receipt.
    CREATE TABLE c2b_payments (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        mpesa_account_id INTEGER NOT NULL REFERENCES mpesa_accounts(id),
        receipt TEXT NOT NULL UNIQUE,
        amount INTEGER NOT NULL,
        bill_ref TEXT NOT NULL DEFAULT '',
        msisdn TEXT NOT NULL DEFAULT '',
        payer_name TEXT NOT NULL DEFAULT '',
        transaction_time TEXT,
        received_at TEXT NOT NULL,
        claimed_at TEXT,
        access_session_id INTEGER REFERENCES access_sessions(id)
    );

    CREATE TABLE vouchers (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        package_id INTEGER NOT NULL REFERENCES packages(id),
        batch TEXT NOT NULL,
        code_hash TEXT NOT NULL UNIQUE,
        code_enc TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'unused' CHECK (state IN ('unused', 'used', 'void')),
        access_session_id INTEGER REFERENCES access_sessions(id),
        created_at TEXT NOT NULL,
        used_at TEXT
    );
    CREATE INDEX vouchers_by_batch ON vouchers (tenant_id, batch);
    CREATE INDEX vouchers_by_access_session ON vouchers (access_session_id)
        WHERE access_session_id IS NOT NULL;

    -- The outbox between the database and the routers: written in the transaction that decides,
    -- run and retried by a worker until the router confirms.
    CREATE TABLE router_tasks (
        id INTEGER PRIMARY KEY,
        router_id INTEGER NOT NULL REFERENCES routers(id),
        access_session_id INTEGER REFERENCES access_sessions(id),
        kind TEXT NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        done_at TEXT
    );
    CREATE INDEX router_tasks_due ON router_tasks (next_attempt_at) WHERE state = 'queued';

    CREATE TABLE router_task_attempts (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES router_tasks(id),
        at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        error TEXT
    );

    CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER REFERENCES tenants(id),
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}',
        source_ip TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, at);
    -- Sign-in throttling counts recent failures per address.
    CREATE INDEX audit_events_sign_in_failures ON audit_events (source_ip, at)
        WHERE action = 'sign_in_failed';
    """,
    # 2: a task held back only because its router was out goes as soon as the router answers again;
    # one backing off for its own reason (a device away from the Wi-Fi) keeps its back-off.
    """
    ALTER TABLE router_tasks ADD COLUMN held_by_outage INTEGER NOT NULL DEFAULT 0
        CHECK (held_by_outage IN (0, 1));
    """,
    # 3: packages' data caps reach the routers. A session's cap is what its purchases bought in all
    # (NULL: no cap); what a capped one used on a device is counted when it leaves it (a move, its end).
    """
    ALTER TABLE access_sessions ADD COLUMN data_cap_bytes INTEGER
        CHECK (data_cap_bytes IS NULL OR data_cap_bytes > 0);
    ALTER TABLE access_sessions ADD COLUMN data_used_bytes INTEGER NOT NULL DEFAULT 0;
    -- Sessions live at the upgrade take their package's cap: NULL would lift it for good.
    UPDATE access_sessions SET data_cap_bytes = (SELECT data_cap_bytes FROM packages WHERE id = package_id)
        WHERE state IN ('pending', 'active');
    """,
    # 4: when Daraja took the account's C2B URLs: until then nobody is told to pay by hand, as the
    # money would never be heard of.
    """
    ALTER TABLE mpesa_accounts ADD COLUMN c2b_registered_at TEXT;
    """,
    # 5: the admin's sessions name the money paid by hand that bought them, as they do payments and
    # vouchers, each read from an index.
    """
    CREATE INDEX c2b_payments_by_access_session ON c2b_payments (access_session_id)
        WHERE access_session_id IS NOT NULL;
    """,
    # 6: api_tokens never had a user (the API's clients will get a table made for them); each router
    # names the kind of gateway that enforces access there (gateways/registry.py), and what a router
    # keeps per package is a "plan" whatever its kind (a RouterOS user profile is one kind's way).
    """
    DROP TABLE api_tokens;
    ALTER TABLE routers ADD COLUMN kind TEXT NOT NULL DEFAULT 'routeros';
    UPDATE router_tasks SET kind = 'update_plans' WHERE kind = 'sync_profiles';
    -- The owner's payments list, scoped by plain equality on the business now: found by number or by
    -- state from an index of its own each, in time order (else a scan of the business's payments).
    CREATE INDEX payments_by_tenant_phone ON payments (tenant_id, phone, created_at);
    CREATE INDEX payments_by_tenant_state ON payments (tenant_id, state, created_at);
    """,
    # 7: money the owner can trust. A push whose answer was lost is `unknown`, a state of its own that
    # holds no phone's slot (SQLite changes a CHECK by rebuilding the table; the foreign keys that name
    # it are checked at commit, when it exists again), with the receipt its payer typed. An account can
    # ask M-Pesa about a receipt (Transaction Status: its initiator, the initiator's password, and the
    # environment's certificate that encrypts it) and says why Daraja refused its C2B URLs. Money paid
    # by hand counts as Wi-Fi only with the business's words for it (what earlier claims took stays
    # theirs), and what a receipt did not spend stays as its credit. A voucher sells at its batch's price.
    """
    PRAGMA defer_foreign_keys = ON;
    CREATE TABLE payments_7 (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        ref TEXT NOT NULL UNIQUE,
        callback_token TEXT NOT NULL UNIQUE,
        mpesa_account_id INTEGER NOT NULL REFERENCES mpesa_accounts(id),
        package_id INTEGER NOT NULL REFERENCES packages(id),
        router_id INTEGER REFERENCES routers(id),
        mac TEXT,
        ip TEXT,
        phone TEXT NOT NULL
            CHECK (length(phone) = 12 AND phone GLOB '254[17]*' AND phone NOT GLOB '*[^0-9]*'),
        amount INTEGER NOT NULL CHECK (amount BETWEEN 1 AND 250000),
        state TEXT NOT NULL
            CHECK (state IN ('created', 'pending', 'unknown', 'paid', 'failed', 'expired', 'reversed')),
        merchant_request_id TEXT,
        checkout_request_id TEXT UNIQUE,
        result_code TEXT,
        result_desc TEXT,
        receipt TEXT UNIQUE,
        access_session_id INTEGER REFERENCES access_sessions(id),
        idempotency_key TEXT,
        request_hash TEXT,
        query_count INTEGER NOT NULL DEFAULT 0,
        next_query_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        paid_at TEXT,
        reversed_reason TEXT,
        typed_receipt TEXT
    );
    INSERT INTO payments_7 (id, tenant_id, ref, callback_token, mpesa_account_id, package_id, router_id, mac,
        ip, phone, amount, state, merchant_request_id, checkout_request_id, result_code, result_desc, receipt,
        access_session_id, idempotency_key, request_hash, query_count, next_query_at, created_at, updated_at,
        paid_at, reversed_reason)
    SELECT id, tenant_id, ref, callback_token, mpesa_account_id, package_id, router_id, mac, ip, phone,
        amount, state, merchant_request_id, checkout_request_id, result_code, result_desc, receipt,
        access_session_id, idempotency_key, request_hash, query_count, next_query_at, created_at, updated_at,
        paid_at, reversed_reason
    FROM payments;
    DROP TABLE payments;
    ALTER TABLE payments_7 RENAME TO payments;
    CREATE UNIQUE INDEX payments_one_open_per_phone ON payments (phone) WHERE state IN ('created', 'pending');
    CREATE INDEX payments_due_query ON payments (next_query_at) WHERE state IN ('created', 'pending');
    CREATE INDEX payments_by_tenant_time ON payments (tenant_id, created_at);
    CREATE INDEX payments_paid ON payments (tenant_id, paid_at, amount, package_id, router_id)
        WHERE state = 'paid';
    CREATE INDEX payments_by_access_session ON payments (access_session_id)
        WHERE access_session_id IS NOT NULL;
    CREATE INDEX payments_by_phone ON payments (phone);
    CREATE INDEX payments_by_mac ON payments (mac, created_at) WHERE mac IS NOT NULL;
    CREATE INDEX payments_by_idempotency_key ON payments (tenant_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX payments_by_tenant_phone ON payments (tenant_id, phone, created_at);
    CREATE INDEX payments_by_tenant_state ON payments (tenant_id, state, created_at);
    -- The owner's "needs attention" finds these at once, however long the history.
    CREATE INDEX payments_unknown ON payments (tenant_id, created_at) WHERE state = 'unknown';
    CREATE INDEX payments_by_typed_receipt ON payments (typed_receipt) WHERE typed_receipt IS NOT NULL;

    ALTER TABLE mpesa_accounts ADD COLUMN initiator_name TEXT;
    ALTER TABLE mpesa_accounts ADD COLUMN initiator_password_enc TEXT;
    ALTER TABLE mpesa_accounts ADD COLUMN certificate TEXT;  -- public: Safaricom's, for this environment
    ALTER TABLE mpesa_accounts ADD COLUMN c2b_registration_error TEXT;

    -- Transaction Status questions and their answers (posted to the result URL the token names).
    CREATE TABLE receipt_checks (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        mpesa_account_id INTEGER NOT NULL REFERENCES mpesa_accounts(id),
        payment_id INTEGER REFERENCES payments(id),
        receipt TEXT NOT NULL,
        token TEXT NOT NULL UNIQUE,
        conversation_id TEXT,
        state TEXT NOT NULL DEFAULT 'asked' CHECK (state IN ('asked', 'answered', 'refused')),
        result_code TEXT,
        result_desc TEXT,
        amount INTEGER,
        completed_at TEXT,
        asked_by TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        answered_at TEXT
    );
    CREATE INDEX receipt_checks_by_payment ON receipt_checks (payment_id) WHERE payment_id IS NOT NULL;
    CREATE INDEX receipt_checks_by_receipt ON receipt_checks (tenant_id, receipt);

    ALTER TABLE tenants ADD COLUMN wifi_words TEXT NOT NULL DEFAULT 'WIFI';
    ALTER TABLE c2b_payments ADD COLUMN for_wifi INTEGER NOT NULL DEFAULT 0 CHECK (for_wifi IN (0, 1));
    ALTER TABLE c2b_payments ADD COLUMN spent INTEGER NOT NULL DEFAULT 0;
    UPDATE c2b_payments SET for_wifi = 1,
        spent = CASE WHEN claimed_at IS NOT NULL THEN amount ELSE 0 END
        WHERE claimed_at IS NOT NULL OR upper(replace(bill_ref, ' ', '')) = 'WIFI';
    CREATE INDEX c2b_payments_by_tenant_time ON c2b_payments (tenant_id, received_at);

    ALTER TABLE vouchers ADD COLUMN price INTEGER CHECK (price IS NULL OR price >= 0);
    ALTER TABLE vouchers ADD COLUMN sold_at TEXT;  -- the owner marked its batch sold
    UPDATE vouchers SET price = (SELECT price FROM packages WHERE id = package_id);

    -- A Till takes no account number: what is paid to it by hand is the business's own, Wi-Fi's.
    UPDATE c2b_payments SET for_wifi = 1
        WHERE mpesa_account_id IN (SELECT id FROM mpesa_accounts WHERE kind = 'till');
    -- What each payment by hand bought, and when: a receipt's credit may be spent over several days
    -- and several accesses, and each part counts on the day it bought time.
    CREATE TABLE c2b_spends (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        c2b_payment_id INTEGER NOT NULL REFERENCES c2b_payments(id),
        access_session_id INTEGER NOT NULL REFERENCES access_sessions(id),
        amount INTEGER NOT NULL CHECK (amount > 0),
        spent_at TEXT NOT NULL
    );
    CREATE INDEX c2b_spends_by_tenant_time ON c2b_spends (tenant_id, spent_at);
    CREATE INDEX c2b_spends_by_access_session ON c2b_spends (access_session_id);
    INSERT INTO c2b_spends (tenant_id, c2b_payment_id, access_session_id, amount, spent_at)
        SELECT tenant_id, id, access_session_id, amount, claimed_at FROM c2b_payments
        WHERE claimed_at IS NOT NULL AND access_session_id IS NOT NULL;
    """,
    # 8: sign-in slowed down rather than locked: failures per account at an address, and per address,
    # counted here instead of from the audit log.
    """
    DROP INDEX audit_events_sign_in_failures;
    CREATE TABLE sign_in_slowdowns (
        key TEXT PRIMARY KEY,  -- 'address:<ip>', or 'email:<a piece of its hash>@<ip>'
        failures INTEGER NOT NULL,
        last_failed_at TEXT NOT NULL
    );
    CREATE INDEX sign_in_slowdowns_by_age ON sign_in_slowdowns (last_failed_at);
    """,
    # 9: the splash asks whether a device's time ended lately, the waiting page and the worker ask for a
    # session's router tasks, the task page for a task's attempts: each was a scan of the whole history.
    # The outbox's old notes are pruned by age.
    """
    CREATE INDEX access_sessions_by_device ON access_sessions (router_id, mac, ended_at);
    CREATE INDEX router_tasks_by_access_session ON router_tasks (access_session_id);
    CREATE INDEX router_tasks_finished ON router_tasks (done_at) WHERE done_at IS NOT NULL;
    CREATE INDEX router_task_attempts_by_task ON router_task_attempts (task_id);
    CREATE INDEX router_task_attempts_failed ON router_task_attempts (at) WHERE ok = 0;
    """,
    # 10: the API for other software. A business's API clients, each with its token stored as SHA-256
    # (found by its public key id, the rest compared in constant time). A payment asked for through the
    # API buys no package and switches no device on: it names its client, and carries the reference and
    # description shown on the prompt (kept for every new payment, the splash's too). An Idempotency-Key
    # names one payment per business: the database refuses a second, however the requests interleave
    # (checkout.py releases a key once its window is over).
    """
    PRAGMA defer_foreign_keys = ON;
    CREATE TABLE api_clients (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        key_id TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL,
        name TEXT NOT NULL CHECK (name <> ''),
        scopes TEXT NOT NULL,  -- space-separated, e.g. 'payments:write payments:read'
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        last_used_at TEXT
    );
    CREATE INDEX api_clients_by_tenant ON api_clients (tenant_id);

    CREATE TABLE payments_8 (
        id INTEGER PRIMARY KEY,
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        ref TEXT NOT NULL UNIQUE,
        callback_token TEXT NOT NULL UNIQUE,
        mpesa_account_id INTEGER NOT NULL REFERENCES mpesa_accounts(id),
        package_id INTEGER REFERENCES packages(id),
        api_client_id INTEGER REFERENCES api_clients(id),
        router_id INTEGER REFERENCES routers(id),
        mac TEXT,
        ip TEXT,
        phone TEXT NOT NULL
            CHECK (length(phone) = 12 AND phone GLOB '254[17]*' AND phone NOT GLOB '*[^0-9]*'),
        amount INTEGER NOT NULL CHECK (amount BETWEEN 1 AND 250000),
        reference TEXT,
        description TEXT,
        state TEXT NOT NULL
            CHECK (state IN ('created', 'pending', 'unknown', 'paid', 'failed', 'expired', 'reversed')),
        merchant_request_id TEXT,
        checkout_request_id TEXT UNIQUE,
        result_code TEXT,
        result_desc TEXT,
        receipt TEXT UNIQUE,
        access_session_id INTEGER REFERENCES access_sessions(id),
        idempotency_key TEXT,
        request_hash TEXT,
        query_count INTEGER NOT NULL DEFAULT 0,
        next_query_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        paid_at TEXT,
        reversed_reason TEXT,
        typed_receipt TEXT,
        -- Bought a package on the splash, or asked for by an API client: never neither.
        CHECK (package_id IS NOT NULL OR api_client_id IS NOT NULL)
    );
    INSERT INTO payments_8 (id, tenant_id, ref, callback_token, mpesa_account_id, package_id, router_id, mac,
        ip, phone, amount, state, merchant_request_id, checkout_request_id, result_code, result_desc, receipt,
        access_session_id, idempotency_key, request_hash, query_count, next_query_at, created_at, updated_at,
        paid_at, reversed_reason, typed_receipt)
    SELECT id, tenant_id, ref, callback_token, mpesa_account_id, package_id, router_id, mac, ip, phone,
        amount, state, merchant_request_id, checkout_request_id, result_code, result_desc, receipt,
        access_session_id,
        -- A key reused after its window named several payments: the newest keeps it.
        CASE WHEN id = (SELECT max(id) FROM payments AS same WHERE same.tenant_id = payments.tenant_id
            AND same.idempotency_key = payments.idempotency_key) THEN idempotency_key END,
        request_hash, query_count, next_query_at, created_at, updated_at, paid_at, reversed_reason,
        typed_receipt
    FROM payments;
    DROP TABLE payments;
    ALTER TABLE payments_8 RENAME TO payments;
    CREATE UNIQUE INDEX payments_one_open_per_phone ON payments (phone) WHERE state IN ('created', 'pending');
    CREATE INDEX payments_due_query ON payments (next_query_at) WHERE state IN ('created', 'pending');
    CREATE INDEX payments_by_tenant_time ON payments (tenant_id, created_at);
    CREATE INDEX payments_paid ON payments (tenant_id, paid_at, amount, package_id, router_id)
        WHERE state = 'paid';
    CREATE INDEX payments_by_access_session ON payments (access_session_id)
        WHERE access_session_id IS NOT NULL;
    CREATE INDEX payments_by_phone ON payments (phone);
    CREATE INDEX payments_by_mac ON payments (mac, created_at) WHERE mac IS NOT NULL;
    CREATE UNIQUE INDEX payments_by_idempotency_key ON payments (tenant_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX payments_by_tenant_phone ON payments (tenant_id, phone, created_at);
    CREATE INDEX payments_by_tenant_state ON payments (tenant_id, state, created_at);
    CREATE INDEX payments_unknown ON payments (tenant_id, created_at) WHERE state = 'unknown';
    CREATE INDEX payments_by_typed_receipt ON payments (typed_receipt) WHERE typed_receipt IS NOT NULL;
    -- The API's lists: a business's API payments newest first, or those of one reference.
    CREATE INDEX payments_of_api ON payments (tenant_id, id) WHERE api_client_id IS NOT NULL;
    CREATE INDEX payments_by_reference ON payments (tenant_id, reference) WHERE api_client_id IS NOT NULL;
    """,
    # 11: a payment cancelled on the waiting page is still asked about (its prompt may be paid): the
    # index of queries to come covers every payment with one, whatever its state
    """
    DROP INDEX payments_due_query;
    CREATE INDEX payments_due_query ON payments (next_query_at) WHERE next_query_at IS NOT NULL;
    """,
    # 12: the owner runs the team from the browser: staff are removed (kept, for the audit log's sake)
    # and the team page says when each last signed in.
    """
    ALTER TABLE admin_users ADD COLUMN disabled_at TEXT;
    ALTER TABLE admin_users ADD COLUMN last_sign_in_at TEXT;
    """,
    # 13: a package's and an M-Pesa account's name is unique within its business (two businesses may
    # each sell "1 hour"); a router's stays unique on the box, as the splash finds it by name alone.
    # A name a business gave twice before stays the oldest's; the others get their id after it.
    """
    UPDATE packages SET name = name || ' (' || id || ')' WHERE EXISTS (SELECT 1 FROM packages AS older
        WHERE older.tenant_id = packages.tenant_id AND older.name = packages.name AND older.id < packages.id);
    UPDATE mpesa_accounts SET name = name || ' (' || id || ')' WHERE EXISTS (SELECT 1 FROM mpesa_accounts
        AS older WHERE older.tenant_id = mpesa_accounts.tenant_id AND older.name = mpesa_accounts.name
        AND older.id < mpesa_accounts.id);
    CREATE UNIQUE INDEX packages_name_per_tenant ON packages (tenant_id, name);
    CREATE UNIQUE INDEX mpesa_accounts_name_per_tenant ON mpesa_accounts (tenant_id, name);
    """,
    # 14: webhooks: an API client's URLs, the events queued for each in the transaction that made them
    # (an outbox), and every try at delivering one. Removed endpoints stay, with their deliveries.
    """
    CREATE TABLE webhook_endpoints (
        id INTEGER PRIMARY KEY,
        api_client_id INTEGER NOT NULL REFERENCES api_clients(id),
        url TEXT NOT NULL,
        secret_enc TEXT NOT NULL,
        created_at TEXT NOT NULL,
        failing_since TEXT,
        disabled_at TEXT,
        removed_at TEXT
    );
    CREATE INDEX webhook_endpoints_of_client ON webhook_endpoints (api_client_id);

    CREATE TABLE webhook_messages (
        id INTEGER PRIMARY KEY,
        endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints(id),
        event_id TEXT NOT NULL,  -- webhook-id: one event's, to every endpoint, on every try
        event_type TEXT NOT NULL,
        subject TEXT NOT NULL,  -- 'payment:12': an endpoint gets one subject's events in order
        body TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        created_at TEXT NOT NULL,
        finished_at TEXT,
        CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
    );
    CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE state = 'pending';
    CREATE INDEX webhook_messages_pending_by_subject ON webhook_messages (endpoint_id, subject, id)
        WHERE state = 'pending';
    CREATE INDEX webhook_messages_of_endpoint ON webhook_messages (endpoint_id, id);

    CREATE TABLE webhook_attempts (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES webhook_messages(id),
        at TEXT NOT NULL,
        status_code INTEGER,  -- NULL: no answer
        error TEXT  -- NULL: delivered
    );
    CREATE INDEX webhook_attempts_of_message ON webhook_attempts (message_id);
    """,
    # 15: access an API client gave (or gave more time to): the API finds it, and the client is told
    # when it starts and ends. Sessions from before have none.
    """
    ALTER TABLE access_sessions ADD COLUMN api_client_id INTEGER REFERENCES api_clients(id);
    CREATE INDEX access_sessions_of_api ON access_sessions (tenant_id, id) WHERE api_client_id IS NOT NULL;
    """,
    # 16: a session's page and the sessions list say who gave time by hand, which only the audit log
    # knows: its events are found by what they were done to, not read through the business's history.
    """
    CREATE INDEX audit_events_by_target ON audit_events (target, action);
    """,
    # 17: the address each prompt was asked for from (the splash's; NULL for the API's): prompts are
    # limited per asking address, which a stranger can't spend for someone else as a typed MAC can be.
    """
    ALTER TABLE payments ADD COLUMN client_address TEXT;
    CREATE INDEX payments_by_client_address ON payments (client_address, created_at)
        WHERE client_address IS NOT NULL;
    """,
    # 18: API limits. A client's own quotas (NULL: the [api] settings' defaults); its calls in the
    # current minute, counted here so that every process serving the API shares the count; the token a
    # rotation replaced, and until when it still works. And each client's use, per local day.
    """
    ALTER TABLE api_clients ADD COLUMN requests_per_minute INTEGER CHECK (requests_per_minute > 0);
    ALTER TABLE api_clients ADD COLUMN pushes_per_month INTEGER CHECK (pushes_per_month > 0);
    ALTER TABLE api_clients ADD COLUMN minute_start TEXT;
    ALTER TABLE api_clients ADD COLUMN minute_calls INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE api_clients ADD COLUMN previous_token_hash TEXT;
    ALTER TABLE api_clients ADD COLUMN previous_token_until TEXT;

    CREATE TABLE api_usage (
        api_client_id INTEGER NOT NULL REFERENCES api_clients(id),
        day TEXT NOT NULL,  -- the business's date, YYYY-MM-DD
        requests INTEGER NOT NULL DEFAULT 0,  -- every call answered, a prompt's too
        failed_requests INTEGER NOT NULL DEFAULT 0,  -- of those, answered with an error (4xx, 5xx)
        pushes INTEGER NOT NULL DEFAULT 0,  -- calls for an M-Pesa prompt (POST /api/v1/payments)
        failed_pushes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (api_client_id, day)
    );
    """,
    # 19: the counter and clean-up. Staff give goodwill time up to a daily limit each business sets;
    # a voucher batch knows who made it (staff see only their own batches' unused codes); routers and
    # M-Pesa accounts can be disabled, and routers, accounts, packages (`hidden` already means "not
    # sold") and voucher batches removed: one with history is kept for the books, out of the lists.
    """
    ALTER TABLE tenants ADD COLUMN staff_goodwill_minutes INTEGER NOT NULL DEFAULT 60
        CHECK (staff_goodwill_minutes >= 0);
    ALTER TABLE vouchers ADD COLUMN made_by INTEGER REFERENCES admin_users(id);
    ALTER TABLE vouchers ADD COLUMN removed_at TEXT;
    ALTER TABLE routers ADD COLUMN disabled_at TEXT;
    ALTER TABLE routers ADD COLUMN removed_at TEXT;
    ALTER TABLE mpesa_accounts ADD COLUMN disabled_at TEXT;
    ALTER TABLE mpesa_accounts ADD COLUMN removed_at TEXT;
    ALTER TABLE packages ADD COLUMN removed_at TEXT;
    """,
    # 20: Wi-Fi money paid through prompts, summed per quarter hour of `paid_at` (UTC: every zone's
    # midnight falls on one), package and router, kept in step by the transitions to paid and reversed.
    # The dashboard's month is a few thousand of these rows instead of a month of payments. Filled from
    # the payments paid so far. router_key 0: paid for no router.
    """
    CREATE TABLE prompt_earnings (
        tenant_id INTEGER NOT NULL REFERENCES tenants(id),
        quarter TEXT NOT NULL,  -- when the quarter hour starts, as every time is stored
        package_id INTEGER NOT NULL,
        router_key INTEGER NOT NULL,
        amount INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, quarter, package_id, router_key)
    );
    INSERT INTO prompt_earnings (tenant_id, quarter, package_id, router_key, amount, count)
    SELECT tenant_id,
           substr(paid_at, 1, 14) || printf('%02d', CAST(substr(paid_at, 15, 2) AS INTEGER) / 15 * 15)
               || ':00.000000+00:00',
           package_id, coalesce(router_id, 0), sum(amount), count(*)
    FROM payments WHERE state = 'paid' AND package_id IS NOT NULL
    GROUP BY 1, 2, 3, 4;
    """,
]
