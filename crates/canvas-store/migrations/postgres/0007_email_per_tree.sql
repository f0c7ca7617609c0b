-- An email address is unique within an organization tree, not across
-- trees: an address used in another tree neither conflicts with nor
-- reveals that account. The unique `email_key` becomes
-- `<tree root id, 32 hex digits>:<lowercased email>`.
WITH RECURSIVE r(id, root) AS (
    SELECT id, id FROM organizations WHERE parent_id IS NULL
    UNION ALL
    SELECT o.id, r.root FROM organizations o JOIN r ON o.parent_id = r.id
)
UPDATE accounts SET email_key = replace(r.root::text, '-', '') || ':' || accounts.email_key
FROM r WHERE r.id = accounts.organization_id;
