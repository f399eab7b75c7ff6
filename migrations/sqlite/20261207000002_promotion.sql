-- Promotion: an environment may take builds only from another of its
-- application (production <- staging): builds that went live there and no
-- job with them failed there since.
ALTER TABLE environments ADD COLUMN promotes_from TEXT;
