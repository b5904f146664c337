-- What each component of an enabled workflow resolved to when it was enabled: a JSON object from
-- component key to "bundle@version (component version)", e.g.
-- {"intercom/create-ticket": "intercom@0.1.0 (component 1.0.0)"}. NULL for workflows enabled before
-- this was recorded, or enabled without components to check against.
ALTER TABLE workflows ADD COLUMN resolved TEXT;
