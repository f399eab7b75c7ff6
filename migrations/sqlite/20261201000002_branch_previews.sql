-- Builds of branches matching this pattern (`feature/*`) each get a QA
-- environment of their own, a copy of this (docker) environment: created
-- with the branch's first build, redeployed with each later one, destroyed
-- when it expires or a webhook says the branch was deleted. NULL: none.
ALTER TABLE environments ADD COLUMN previews TEXT;
