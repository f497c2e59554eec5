-- Cards of accounts. No foreign keys: accounts live in another service, and this one must scale
-- and be split independently.
CREATE TABLE cards (
    id UUID PRIMARY KEY,
    account_id UUID NOT NULL,
    holder TEXT NOT NULL,
    last4 TEXT NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    status TEXT NOT NULL CHECK (status IN ('inactive', 'active')),
    image_key TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    activated_at TIMESTAMPTZ
);

-- The account's cards, in the order they are listed.
CREATE INDEX cards_by_account ON cards (account_id, created_at, id);
