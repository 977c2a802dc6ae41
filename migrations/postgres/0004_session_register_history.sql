-- What a session's energy register did besides counting up (resets, dropouts), as JSON:
-- {"carried_wh", "previous": [first, last] | null, "base_wh"}. NULL for a plain register.
ALTER TABLE sessions ADD COLUMN register_history TEXT;
