-- The page a person asked for before signing in: they land there after.
ALTER TABLE login_flows ADD COLUMN return_to TEXT;
