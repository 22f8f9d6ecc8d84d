-- The three SECURITY DEFINER functions get their search_path pinned to pg_catalog (then pg_temp,
-- which is searched for tables only) - same arguments, bodies and answers.
--
-- Why: they run as the schema's owner, and the application's role owns schemas (projections,
-- workflow) in which it can create functions and operators. V1 and V10 qualified most names but
-- not every operator: `e.stream_id = p_stream_id` in append_events is resolved through the
-- caller's search_path, so the application's role could create `projections.=` for uuid, put
-- projections first in its path, and have its function run as the owner (a superuser in many
-- setups) on the next append - tried against V1 and seen to run as `postgres`. Qualifying every
-- name by hand is what missed it; a pinned path leaves nothing to miss. (The multi-array
-- `unnest(a, b)` was never at risk: PostgreSQL rewrites it to pg_catalog's.)
--
-- V1 chose qualified names over a SET clause because saving and restoring the setting costs each
-- call; that cost is now paid (docs/security.md). The guarantee test definer_functions tries each
-- hijack as the application's role.
ALTER FUNCTION public.append_events(uuid, bigint, uuid[], text[], integer[], jsonb[], bytea[],
                                    text, text, uuid, uuid, timestamptz)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION public.append_batch(integer[], uuid[], bigint[], text[], text[], uuid[], uuid[],
                                   timestamptz[], uuid[], text[], integer[], jsonb[], bytea[])
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION public.allocate_request_number(uuid, date)
    SET search_path = pg_catalog, pg_temp;
