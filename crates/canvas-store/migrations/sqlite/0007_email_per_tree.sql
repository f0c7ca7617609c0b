-- An email address is unique within an organization tree, not across
-- trees: an address used in another tree neither conflicts with nor
-- reveals that account. The unique `email_key` becomes
-- `<tree root id, 32 hex digits>:<lowercased email>`.
CREATE TEMP TABLE org_roots AS
WITH RECURSIVE r(id, root) AS (
    SELECT id, id FROM organizations WHERE parent_id IS NULL
    UNION ALL
    SELECT o.id, r.root FROM organizations o JOIN r ON o.parent_id = r.id
)
SELECT id, root FROM r;
UPDATE accounts SET email_key = (
    SELECT lower(hex(root)) FROM org_roots WHERE org_roots.id = accounts.organization_id
) || ':' || email_key;
DROP TABLE org_roots;
