-- The account a console session acts for (the API's ManagedAccountId),
-- chosen with the console's account switcher; none for the key's own.
ALTER TABLE console_sessions ADD COLUMN managed_account TEXT;
