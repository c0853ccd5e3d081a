import { formatAmount } from '@creditgate/contracts';
import type { Ledger } from './context.js';

interface MismatchRow {
  user_id: string;
  currency: string;
  balance: bigint | null;
  held: bigint | null;
  entry_balance: bigint | null;
  entry_held: bigint | null;
  open_holds: bigint | null;
}

/**
 * Proves the stored accounts are explained by the entries: for every (user, currency), the
 * balance equals the sum of its mint, send, burn and tally entries, and the held amount equals
 * both the sum of its hold and release entries and the holds of its open requests. Both queries run
 * in one repeatable-read transaction, so they see a single snapshot while requests flow.
 */
export async function verifyLedger(ledger: Ledger) {
  const [rows, counts] = await ledger.db.$transaction(
    [
      ledger.db.$queryRaw<MismatchRow[]>`
        WITH sums AS (
          SELECT user_id, currency,
                 sum(amount) FILTER (WHERE kind IN ('mint', 'send', 'burn', 'tally')) AS balance,
                 sum(amount) FILTER (WHERE kind IN ('hold', 'release')) AS held
          FROM entries GROUP BY user_id, currency
        ), open AS (
          SELECT user_id, currency, sum(hold_amount) AS held
          FROM requests WHERE status = 'held' GROUP BY user_id, currency
        ), joined AS (
          SELECT coalesce(a.user_id, s.user_id) AS user_id,
                 coalesce(a.currency, s.currency) AS currency,
                 a.balance, a.held, s.balance AS entry_balance, s.held AS entry_held
          FROM accounts a
          FULL JOIN sums s ON s.user_id = a.user_id AND s.currency = a.currency
        )
        SELECT coalesce(j.user_id, o.user_id) AS user_id,
               coalesce(j.currency, o.currency) AS currency,
               j.balance, j.held, j.entry_balance::bigint, j.entry_held::bigint,
               o.held::bigint AS open_holds
        FROM joined j
        FULL JOIN open o ON o.user_id = j.user_id AND o.currency = j.currency
        WHERE coalesce(j.balance, 0) <> coalesce(j.entry_balance, 0)
           OR coalesce(j.held, 0) <> coalesce(j.entry_held, 0)
           OR coalesce(j.held, 0) <> coalesce(o.held, 0)
        LIMIT 100`,
      ledger.db.$queryRaw<{ accounts: bigint; entries: bigint }[]>`
        SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM entries) AS entries`,
    ],
    { isolationLevel: 'RepeatableRead' },
  );

  const amount = (value: bigint | null) => formatAmount(value ?? 0n);
  return {
    ok: rows.length === 0,
    accounts: Number(counts[0]!.accounts),
    entries: Number(counts[0]!.entries),
    mismatches: rows.map((row) => ({
      userId: row.user_id,
      currency: row.currency,
      balance: amount(row.balance),
      held: amount(row.held),
      entryBalance: amount(row.entry_balance),
      entryHeld: amount(row.entry_held),
      openHolds: amount(row.open_holds),
    })),
  };
}
