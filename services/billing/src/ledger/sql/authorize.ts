import { lockAccounts } from './lock.js';

/** Record definition of an authorize item (see AuthorizeRecord in batches.ts). */
const AUTHORIZE_ITEM = `x(
      ord int, request_id text, user_id text, model_id text, route_class text,
      prompt_tokens int, requested_output_tokens int, mode text, currencies text[], amount bigint,
      decision text, reason text, status request_status, max_output_tokens int,
      output_clamped boolean, affordable_output_tokens int, pricing_version text, entry_id text)`;

/*
 * Authorize, in two phases. Phase one is set-based and covers the common case: every 'hold'
 * item whose first currency still covers it, counting the items before it in the batch (a
 * running sum per account), is held at once; 'record' items are stored; ids seen before are
 * replays. Running sums only grow, so what phase one holds on an account is a prefix of its
 * items and never more than its available balance. Phase two takes the rest one at a time, in
 * arrival order, exactly as a single request would be handled: later currencies, overspend
 * holds, and duplicates of a request id within the batch.
 */
export const AUTHORIZE_BODY = `
DECLARE
  item record;
  candidate text;
  chosen text;
  done_ords int[];
  done_outcomes text[];
  done_currencies text[];
BEGIN
${lockAccounts(`SELECT DISTINCT i.user_id, c.currency
        FROM jsonb_to_recordset(p_items) AS i(user_id text, currencies text[]),
             unnest(i.currencies) AS c(currency)`)}

  WITH items AS (
    SELECT * FROM jsonb_to_recordset(p_items) AS ${AUTHORIZE_ITEM}
  ), fresh AS (
    SELECT DISTINCT ON (i.request_id) i.*
    FROM items i
    WHERE NOT EXISTS (SELECT 1 FROM requests r WHERE r.request_id = i.request_id)
    ORDER BY i.request_id, i.ord
  ), candidates AS (
    SELECT f.*, f.currencies[1] AS currency,
           sum(f.amount) OVER (PARTITION BY f.user_id, f.currencies[1] ORDER BY f.ord) AS running
    FROM fresh f
    WHERE f.mode = 'hold'
  ), placed AS (
    SELECT c.*
    FROM candidates c
    JOIN accounts a ON a.user_id = c.user_id AND a.currency = c.currency
    WHERE a.balance - a.held >= c.running
      AND a.balance - a.held - (c.running - c.amount) > 0
  ), held AS (
    UPDATE accounts a SET held = a.held + t.total, updated_at = p_now
    FROM (SELECT user_id, currency, sum(amount) AS total FROM placed GROUP BY 1, 2) t
    WHERE a.user_id = t.user_id AND a.currency = t.currency
  ), recorded AS (
    INSERT INTO requests (
      request_id, user_id, model_id, route_class, prompt_tokens, requested_output_tokens,
      decision, reason, currency, hold_amount, max_output_tokens, output_clamped,
      affordable_output_tokens, pricing_version, status, created_at)
    SELECT p.request_id, p.user_id, p.model_id, p.route_class, p.prompt_tokens,
           p.requested_output_tokens, p.decision, p.reason, p.currency, p.amount,
           p.max_output_tokens, p.output_clamped, p.affordable_output_tokens, p.pricing_version,
           p.status, p_now
    FROM placed p
    UNION ALL
    SELECT f.request_id, f.user_id, f.model_id, f.route_class, f.prompt_tokens,
           f.requested_output_tokens, f.decision, f.reason, NULL, 0, f.max_output_tokens,
           f.output_clamped, f.affordable_output_tokens, f.pricing_version, f.status, p_now
    FROM fresh f
    WHERE f.mode = 'record'
  ), hold_entries AS (
    INSERT INTO entries (id, created_at, kind, user_id, currency, amount, reason, cause_id)
    SELECT p.entry_id, p_now, 'hold', p.user_id, p.currency, p.amount, 'request authorized',
           p.request_id
    FROM placed p
    WHERE p.amount > 0
  ), done AS (
    SELECT p.ord, 'held' AS outcome, p.currency FROM placed p
    UNION ALL
    SELECT f.ord, 'recorded', NULL FROM fresh f WHERE f.mode = 'record'
    UNION ALL
    SELECT i.ord, 'replay', NULL FROM items i
    WHERE EXISTS (SELECT 1 FROM requests r WHERE r.request_id = i.request_id)
  )
  SELECT coalesce(array_agg(d.ord), '{}'), coalesce(array_agg(d.outcome), '{}'),
         coalesce(array_agg(d.currency), '{}')
  INTO done_ords, done_outcomes, done_currencies
  FROM done d;

  RETURN QUERY SELECT * FROM unnest(done_ords, done_outcomes, done_currencies);

  FOR item IN
    SELECT * FROM jsonb_to_recordset(p_items) AS ${AUTHORIZE_ITEM}
    WHERE NOT (x.ord = ANY (done_ords))
    ORDER BY x.ord
  LOOP
    out_ord := item.ord;
    out_currency := NULL;
    IF EXISTS (SELECT 1 FROM requests r WHERE r.request_id = item.request_id) THEN
      out_outcome := 'replay';
      RETURN NEXT;
      CONTINUE;
    END IF;

    -- 'hold': the first currency whose available balance covers the amount.
    -- 'force': an overspend hold on the given currency, whatever its balance.
    -- 'record': nothing held (unmetered or denied).
    chosen := NULL;
    IF item.mode = 'hold' THEN
      FOREACH candidate IN ARRAY item.currencies LOOP
        UPDATE accounts a SET held = a.held + item.amount, updated_at = p_now
        WHERE a.user_id = item.user_id AND a.currency = candidate
          AND a.balance - a.held >= item.amount AND a.balance - a.held > 0
        RETURNING a.currency INTO chosen;
        EXIT WHEN chosen IS NOT NULL;
      END LOOP;
      IF chosen IS NULL THEN
        out_outcome := 'short';
        RETURN NEXT;
        CONTINUE;
      END IF;
    ELSIF item.mode = 'force' THEN
      chosen := item.currencies[1];
      INSERT INTO accounts AS a (user_id, currency, balance, held, created_at, updated_at)
      VALUES (item.user_id, chosen, 0, item.amount, p_now, p_now)
      ON CONFLICT (user_id, currency)
      DO UPDATE SET held = a.held + EXCLUDED.held, updated_at = EXCLUDED.updated_at;
    END IF;

    INSERT INTO requests (
      request_id, user_id, model_id, route_class, prompt_tokens, requested_output_tokens,
      decision, reason, currency, hold_amount, max_output_tokens, output_clamped,
      affordable_output_tokens, pricing_version, status, created_at)
    VALUES (
      item.request_id, item.user_id, item.model_id, item.route_class, item.prompt_tokens,
      item.requested_output_tokens, item.decision, item.reason, chosen,
      CASE WHEN chosen IS NULL THEN 0 ELSE item.amount END, item.max_output_tokens,
      item.output_clamped, item.affordable_output_tokens, item.pricing_version, item.status, p_now)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
      -- Another batch recorded this request id after our EXISTS check: give the hold back.
      IF chosen IS NOT NULL THEN
        UPDATE accounts a SET held = a.held - item.amount
        WHERE a.user_id = item.user_id AND a.currency = chosen;
      END IF;
      out_outcome := 'replay';
      RETURN NEXT;
      CONTINUE;
    END IF;

    IF chosen IS NOT NULL AND item.amount > 0 THEN
      INSERT INTO entries (id, created_at, kind, user_id, currency, amount, reason, cause_id)
      VALUES (item.entry_id, p_now, 'hold', item.user_id, chosen, item.amount,
              'request authorized', item.request_id);
    END IF;
    out_currency := chosen;
    out_outcome := CASE WHEN chosen IS NULL THEN 'recorded' ELSE 'held' END;
    RETURN NEXT;
  END LOOP;
END`;
