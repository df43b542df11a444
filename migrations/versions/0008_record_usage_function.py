"""record a batch of usage reports in one call

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 07:20:00

`allot_record_usage` applies a batch of calculated-usage reports atomically: it locks the
batch's counters, applies the reports one after another in arrival order, and writes the
counters, the new idempotency keys and the threshold crossings. One statement, so one round
trip and one commit for the whole batch (app/store/usage.py calls it; docs/usage.md has the
rules it implements).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = (
    "allot_record_usage(uuid[], uuid[], text[], text[], "
    "uuid[], text[], text[], timestamptz[], uuid[], timestamptz[], "
    "int[], int[], text[], text[], boolean[], float8[], boolean[], float8[], float8[], "
    "jsonb[], int[], timestamptz)"
)

FUNCTION = r"""
CREATE FUNCTION allot_record_usage(
    -- contexts the caller kept from earlier batches: customer, environment, feature and the
    -- versions (xmin) of the customer, customer_entitlements and feature rows it read
    g_customer uuid[], g_env uuid[], g_feature text[], g_version text[],
    -- the batch's counters (customer, feature, resource, period start and end), distinct,
    -- sorted by key (the lock order of every batch)
    c_customer uuid[], c_feature text[], c_resource text[], c_start timestamptz[],
    c_env uuid[], c_end timestamptz[],
    -- the reports, in arrival order
    i_counter int[],          -- index into the counters
    i_slot int[],             -- index of the first report with the same key (itself if none)
    i_key text[],             -- idempotency key or NULL
    i_digest text[],          -- hash of the report's payload
    i_set boolean[],          -- SET (else DELTA)
    i_value float8[],
    i_consume boolean[],
    i_limit float8[],         -- hard limit a consume must fit under; NULL: none
    i_threshold_limit float8[],  -- limit thresholds are measured against; NULL: none
    i_base jsonb[],           -- the answer without currentUsage (usageLimit, period)
    thresholds int[],         -- percentages of the limit
    at timestamptz
) RETURNS TABLE (item int, outcome text, usage float8, response jsonb)
-- Plan the statements once per session: with array parameters the planner would otherwise
-- plan them again on every call, which cost more than running them. A batch touches at
-- most 1,000 rows by primary key, so index lookups are always the right plan, whatever the
-- statistics said when the plan was made (a young table looks small enough to scan whole).
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $fn$
DECLARE
    n_items int := coalesce(cardinality(i_counter), 0);
    n_thresholds int := coalesce(cardinality(thresholds), 0);
    vals float8[];
    changed boolean[] := array_fill(false, ARRAY[coalesce(cardinality(c_customer), 0)]);
    slot_hash text[];
    slot_resp jsonb[];
    o_outcome text[] := array_fill(NULL::text, ARRAY[n_items]);
    o_usage float8[] := array_fill(NULL::float8, ARRAY[n_items]);
    o_resp jsonb[] := array_fill(NULL::jsonb, ARRAY[n_items]);
    stored int[] := '{}';     -- reports whose key is stored now
    x_counter int[] := '{}';  -- thresholds reached: counter, threshold, usage, limit
    x_threshold int[] := '{}';
    x_usage float8[] := '{}';
    x_limit float8[] := '{}';
    n int; c int; s int; t int;
    cur float8; cand float8; new float8; v float8; tl float8;
    resp jsonb;
BEGIN
    -- 0. A kept context whose rows changed since: refuse the batch, nothing is recorded (the
    --    caller reads the context again and records the batch again).
    IF EXISTS (
        SELECT 1
        FROM unnest(g_customer, g_env, g_feature, g_version) AS g(cu, e, f, v)
        LEFT JOIN customers cust ON cust.pk = g.cu
        LEFT JOIN customer_entitlements ce ON ce.customer_pk = g.cu
        LEFT JOIN features fe ON fe.environment_pk = g.e AND fe.id = g.f
        WHERE concat_ws(':', coalesce(cust.xmin::text, '-'), coalesce(ce.xmin::text, '-'),
                        coalesce(fe.xmin::text, '-')) IS DISTINCT FROM g.v
    ) THEN
        RETURN QUERY SELECT 0, 'STALE'::text, NULL::float8, NULL::jsonb;
        RETURN;
    END IF;

    -- 1. Lock the counters in the order given (creating missing ones at zero) and read
    --    their newest values: FOR UPDATE waits for a concurrent writer and then reads what
    --    it committed.
    INSERT INTO usage_counters
        (customer_pk, feature_id, resource_key, period_start, environment_pk, period_end,
         value, updated_at)
    SELECT u.cu, u.f, u.r, u.s, u.e, u.pe, 0, at
    FROM unnest(c_customer, c_feature, c_resource, c_start, c_env, c_end)
         WITH ORDINALITY AS u(cu, f, r, s, e, pe, ord)
    ORDER BY u.ord
    ON CONFLICT DO NOTHING;

    SELECT array_agg(l.value ORDER BY l.ord) INTO vals FROM (
        SELECT uc.value, u.ord
        FROM unnest(c_customer, c_feature, c_resource, c_start, c_end) WITH ORDINALITY
             AS u(cu, f, r, s, e, ord)
        JOIN usage_counters uc ON uc.customer_pk = u.cu AND uc.feature_id = u.f
                              AND uc.resource_key = u.r AND uc.period_start = u.s
                              AND uc.period_end = u.e
        ORDER BY u.ord
        FOR UPDATE OF uc
    ) l;

    -- 2. The keys already stored, per report (NULL when new or without a key).
    SELECT array_agg(k.request_hash ORDER BY q.ord), array_agg(k.response ORDER BY q.ord)
      INTO slot_hash, slot_resp
    FROM unnest(i_counter, i_key) WITH ORDINALITY AS q(c, k, ord)
    LEFT JOIN usage_idempotency_keys k ON k.environment_pk = c_env[q.c] AND k.key = q.k;

    -- 3. Apply the reports one after another, as if each came alone.
    FOR n IN 1..n_items LOOP
        s := i_slot[n];
        IF i_key[n] IS NOT NULL AND slot_hash[s] IS NOT NULL THEN
            -- a key seen before: counted once, answered as the first time
            IF slot_hash[s] = i_digest[n] THEN
                o_outcome[n] := 'REPLAYED';
                o_resp[n] := slot_resp[s];
            ELSE
                o_outcome[n] := 'KEY_REUSED';
            END IF;
            CONTINUE;
        END IF;
        c := i_counter[n];
        cur := vals[c];
        v := i_value[n];
        IF NOT i_set[n] AND v > 0 AND cur > 1.7976931348623157e308::float8 - v THEN
            o_outcome[n] := 'OUT_OF_RANGE';  -- past the largest float
            CONTINUE;
        END IF;
        cand := CASE WHEN i_set[n] THEN v ELSE cur + v END;
        IF i_consume[n] AND i_limit[n] IS NOT NULL AND v > 0 AND cand > i_limit[n] THEN
            o_outcome[n] := 'REFUSED';  -- does not fit: nothing recorded, no key stored
            o_usage[n] := cur;
            CONTINUE;
        END IF;
        new := greatest(cand, 0);  -- usage never goes below zero
        vals[c] := new;
        changed[c] := true;
        resp := i_base[n] || jsonb_build_object('currentUsage', new);
        o_outcome[n] := 'APPLIED';
        o_usage[n] := new;
        o_resp[n] := resp;
        IF i_key[n] IS NOT NULL THEN
            slot_hash[s] := i_digest[n];
            slot_resp[s] := resp;
            stored := stored || n;
        END IF;
        tl := i_threshold_limit[n];
        IF tl IS NOT NULL AND tl > 0 THEN
            FOR t IN 1..n_thresholds LOOP
                IF new >= tl * thresholds[t] / 100.0 THEN
                    x_counter := x_counter || c;
                    x_threshold := x_threshold || thresholds[t];
                    x_usage := x_usage || new;
                    x_limit := x_limit || tl;
                END IF;
            END LOOP;
        END IF;
    END LOOP;

    -- 4. Write: counters, keys (in key order, so concurrent batches cannot deadlock on them),
    --    crossings (in counter order; once per period: one already recorded is skipped).
    UPDATE usage_counters uc SET value = u.v, updated_at = at
    FROM unnest(c_customer, c_feature, c_resource, c_start, c_end, vals, changed)
         AS u(cu, f, r, s, e, v, ch)
    WHERE u.ch AND uc.customer_pk = u.cu AND uc.feature_id = u.f AND uc.resource_key = u.r
      AND uc.period_start = u.s AND uc.period_end = u.e;

    INSERT INTO usage_idempotency_keys (environment_pk, key, request_hash, response, created_at)
    SELECT c_env[i_counter[k]], i_key[k], i_digest[k], o_resp[k], at
    FROM unnest(stored) AS k
    ORDER BY c_env[i_counter[k]], i_key[k];

    -- The first report of the batch to reach a threshold records it, once per period.
    INSERT INTO usage_threshold_crossings
        (customer_pk, feature_id, resource_key, period_start, period_end, threshold,
         environment_pk, usage, usage_limit, crossed_at)
    SELECT DISTINCT ON (x.c, x.t) c_customer[x.c], c_feature[x.c], c_resource[x.c],
           c_start[x.c], c_end[x.c], x.t, c_env[x.c], x.u, x.l, at
    FROM unnest(x_counter, x_threshold, x_usage, x_limit) WITH ORDINALITY AS x(c, t, u, l, ord)
    ORDER BY x.c, x.t, x.ord
    ON CONFLICT DO NOTHING;

    RETURN QUERY
    SELECT o.n::int, o_outcome[o.n], o_usage[o.n], o_resp[o.n]
    FROM generate_series(1, n_items) AS o(n);
END
$fn$
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
