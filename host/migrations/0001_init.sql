-- The embedded store. Each feature adds its own migrations in its own number range:
-- 0100-0199 triggers and scheduler, 0200-0299 connections, 0300-0399 bundles, 0400-0499 workflows and runs.
CREATE TABLE IF NOT EXISTS host_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
