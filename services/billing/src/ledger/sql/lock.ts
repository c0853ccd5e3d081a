/**
 * Locks every account of (user, currency) pairs produced by `pairs`, one primary key probe
 * each, in canonical order. The lateral subquery keeps it a probe per pair: a plain join would
 * be planned for an unknown number of pairs and could scan the whole table.
 */
export const lockAccounts = (pairs: string) => `
  PERFORM 1
  FROM (${pairs} ORDER BY 1, 2) k(user_id, currency)
  CROSS JOIN LATERAL (
    SELECT 1 FROM accounts a
    WHERE a.user_id = k.user_id AND a.currency = k.currency
    FOR UPDATE
  ) locked;`;
