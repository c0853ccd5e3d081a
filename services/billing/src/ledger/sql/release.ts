import { lockAccounts } from './lock.js';

/** Void and expiry, one request at a time: neither is on the hot path. */
export const RELEASE_BODY = `
DECLARE
  ids text[];
  item record;
  req record;
BEGIN
  SELECT array_agg(x.request_id) INTO ids
  FROM jsonb_to_recordset(p_items) AS x(request_id text);

${lockAccounts(`SELECT DISTINCT r.user_id, r.currency FROM requests r
        WHERE r.request_id = ANY (ids) AND r.currency IS NOT NULL`)}

  FOR item IN
    SELECT * FROM jsonb_to_recordset(p_items) AS x(
      ord int, request_id text, target request_status, reason text, entry_id text,
      cutoff timestamptz)
    ORDER BY x.request_id, x.ord
  LOOP
    out_ord := item.ord;
    out_released := 0;
    SELECT r.status, r.user_id, r.currency, r.hold_amount, r.created_at
    INTO req FROM requests r WHERE r.request_id = item.request_id FOR UPDATE;
    IF NOT FOUND THEN
      out_outcome := 'missing';
      RETURN NEXT;
      CONTINUE;
    END IF;
    -- Expiry only takes holds still open and older than the cutoff; a void also closes
    -- unmetered requests. Anything else is left alone and reported as skipped.
    IF (item.target = 'expired' AND NOT (req.status = 'held' AND req.created_at < item.cutoff))
       OR (item.target = 'voided' AND req.status NOT IN ('held', 'unmetered')) THEN
      out_outcome := 'skipped';
      RETURN NEXT;
      CONTINUE;
    END IF;

    UPDATE requests r SET status = item.target, finished_at = p_now, void_reason = item.reason
    WHERE r.request_id = item.request_id;
    IF req.status = 'held' THEN
      UPDATE accounts a SET held = a.held - req.hold_amount, updated_at = p_now
      WHERE a.user_id = req.user_id AND a.currency = req.currency;
      IF req.hold_amount > 0 THEN
        INSERT INTO entries (id, created_at, kind, user_id, currency, amount, reason, cause_id)
        VALUES (item.entry_id, p_now, 'release', req.user_id, req.currency, -req.hold_amount,
                item.reason, item.request_id);
      END IF;
      out_released := req.hold_amount;
    END IF;
    out_outcome := 'released';
    RETURN NEXT;
  END LOOP;
END`;
