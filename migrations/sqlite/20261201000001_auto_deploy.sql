-- Builds of branches matching this pattern (`main`, `release/*`) are deployed
-- to the environment as soon as they are registered. NULL: only by hand.
ALTER TABLE environments ADD COLUMN auto_deploy TEXT;
