import { lockAccounts } from './lock.js';

/*
 * Settle, set-based: one statement locks the accounts, one settles every open request of the
 * batch. A request id appearing twice in a batch is settled by its first item; the others see
 * it settled and replay.
 *
 * A burn never takes an account's available balance (balance - held) below zero, nor further
 * below it when overspend already took it there. Each request pays first from its own hold;
 * what its cost exceeds that by (all of it, for a request whose hold expired and was released by
 * the sweeper) draws on a pool: the account's available balance plus what the batch's holds
 * leave unused, never less than zero. Requests draw on the pool in request id order; what it
 * cannot cover is written off (recorded, not burned), since those credits may already be
 * promised to other requests. A request held under overspend burns in full and stays out of the
 * pool, its hold adding nothing to it. So whatever shares its batch, a request's own hold always
 * pays for it, and no request outside overspend pays with credits the balance does not have.
 */
export const SETTLE_BODY = `
DECLARE
  ids text[];
BEGIN
  SELECT array_agg(x.request_id) INTO ids
  FROM jsonb_to_recordset(p_items) AS x(request_id text);

${lockAccounts(`SELECT DISTINCT r.user_id, r.currency FROM requests r
        WHERE r.request_id = ANY (ids) AND r.currency IS NOT NULL`)}

  RETURN QUERY
  WITH items AS (
    SELECT * FROM jsonb_to_recordset(p_items) AS x(
      ord int, request_id text, pricing_version text, cost bigint, settle_status text,
      usage_estimated boolean, input_tokens int, output_tokens int, cache_read_tokens int,
      cache_write_tokens int, cache_write_1h_tokens int, reasoning_tokens int, usage jsonb,
      release_entry_id text, burn_entry_id text)
  ), current AS (
    SELECT r.request_id, r.status, r.user_id, r.currency, r.hold_amount, r.model_id,
           r.pricing_version, r.reason
    FROM requests r
    WHERE r.request_id = ANY (ids)
    ORDER BY r.request_id
    FOR UPDATE
  ), settling AS (
    -- The cost was computed for one pricing version: never burn it against another.
    SELECT DISTINCT ON (i.request_id)
           i.*, c.status AS prior, c.user_id, c.currency, c.model_id,
           c.pricing_version AS stored_version, c.reason = 'overspend' AS overspend,
           -- An expired request had its hold released by the sweeper: it releases nothing.
           CASE WHEN c.status = 'held' THEN c.hold_amount ELSE 0 END AS released,
           GREATEST(i.cost - c.hold_amount, 0) AS overshoot
    FROM items i
    JOIN current c ON c.request_id = i.request_id
    WHERE c.status IN ('held', 'expired', 'unmetered')
      AND (c.status = 'unmetered' OR c.pricing_version IS NOT DISTINCT FROM i.pricing_version)
    ORDER BY i.request_id, i.ord
  ), covered AS (
    -- The part of each cost the request's own hold pays (all of it under overspend).
    SELECT s.*,
           CASE WHEN s.prior = 'unmetered' OR s.overspend THEN s.cost
                ELSE LEAST(s.cost, s.released) END AS own
    FROM settling s
  ), pools AS (
    SELECT a.user_id, a.currency, GREATEST(a.balance - a.held + t.unused, 0) AS pool
    FROM accounts a
    JOIN (
      SELECT user_id, currency, sum(released - own) AS unused
      FROM covered WHERE prior <> 'unmetered' AND NOT overspend GROUP BY 1, 2
    ) t ON a.user_id = t.user_id AND a.currency = t.currency
  ), charged AS (
    -- The excess (cost - own, zero under overspend) draws on what is left of the pool after
    -- the account's earlier requests in the batch. Rows without a pool have no excess.
    SELECT c.*,
           (c.own + LEAST(c.cost - c.own, GREATEST(p.pool - (sum(c.cost - c.own) OVER (
              PARTITION BY c.user_id, c.currency ORDER BY c.request_id
              ROWS UNBOUNDED PRECEDING) - (c.cost - c.own)), 0)))::bigint AS burn
    FROM covered c
    LEFT JOIN pools p ON p.user_id = c.user_id AND p.currency = c.currency
  ), settled AS (
    UPDATE requests r SET
      status = 'settled', finished_at = p_now, settle_status = s.settle_status,
      usage_estimated = s.usage_estimated, input_tokens = s.input_tokens,
      output_tokens = s.output_tokens, cache_read_tokens = s.cache_read_tokens,
      cache_write_tokens = s.cache_write_tokens, cache_write_1h_tokens = s.cache_write_1h_tokens,
      reasoning_tokens = s.reasoning_tokens, cost = s.burn, overshoot = s.overshoot,
      written_off = s.cost - s.burn
    FROM charged s
    WHERE r.request_id = s.request_id
  ), debited AS (
    UPDATE accounts a
    SET balance = a.balance - t.burn, held = a.held - t.released, updated_at = p_now
    FROM (
      SELECT user_id, currency, sum(burn) AS burn, sum(released) AS released
      FROM charged WHERE prior <> 'unmetered' GROUP BY 1, 2
    ) t
    WHERE a.user_id = t.user_id AND a.currency = t.currency
  ), written AS (
    INSERT INTO entries (
      id, created_at, kind, user_id, currency, amount, reason, cause_id, model_id, usage,
      pricing_version)
    SELECT s.release_entry_id, p_now, 'release'::entry_kind, s.user_id, s.currency, -s.released,
           'request settled', s.request_id, NULL, NULL, NULL
    FROM settling s WHERE s.prior = 'held' AND s.released > 0
    UNION ALL
    SELECT s.burn_entry_id, p_now, 'burn'::entry_kind, s.user_id, s.currency, -s.burn, 'usage',
           s.request_id, s.model_id, s.usage, s.stored_version
    FROM charged s WHERE s.prior <> 'unmetered'
  )
  SELECT i.ord,
         CASE
           WHEN s.ord = i.ord THEN 'settled'
           WHEN c.request_id IS NULL THEN 'missing'
           WHEN c.status IN ('held', 'expired')
                AND c.pricing_version IS DISTINCT FROM i.pricing_version THEN 'stale'
           ELSE 'replay'
         END,
         CASE WHEN s.ord = i.ord THEN s.overshoot ELSE 0 END,
         CASE WHEN s.ord = i.ord THEN s.cost - s.burn ELSE 0 END
  FROM items i
  LEFT JOIN current c ON c.request_id = i.request_id
  LEFT JOIN charged s ON s.request_id = i.request_id;
END`;
