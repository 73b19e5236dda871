-- Mandates always cap spending, and a destination list is never empty (issue 15): the API refuses both, and the
-- database refuses them too, so no other writer can store a mandate that an agent would read as "no rule".
-- NOT VALID: rows granted before this release keep loading; the write path refuses to spend under an uncapped one.
ALTER TABLE mandates
    ADD CONSTRAINT mandates_capped
        CHECK (max_per_transaction IS NOT NULL OR limit_amount IS NOT NULL) NOT VALID,
    ADD CONSTRAINT mandates_destinations_not_empty
        CHECK (allowed_destinations IS NULL OR cardinality(allowed_destinations) > 0) NOT VALID;
