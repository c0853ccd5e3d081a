import { createHash } from 'node:crypto';
import type { Db } from '../db.js';
import { AUTHORIZE_BODY } from './sql/authorize.js';
import { RELEASE_BODY } from './sql/release.js';
import { SETTLE_BODY } from './sql/settle.js';

/*
 * The hot paths (authorize, settle, void and expiry) run as PL/pgSQL functions that process a
 * whole batch of requests in one statement, hence one transaction and one WAL flush.
 *
 * Why: a hold and a settle both update the account row, and a row lock is held until the commit
 * has been flushed to disk. One statement per request therefore serializes a busy account at
 * one fsync per request (measured here: about 1,700 commits/s for a single row), whatever the
 * pool size. Batching requests into one transaction is the only way past that limit, and a
 * function keeps each batch to a single round trip while every hold still accounts for the
 * holds placed before it in the same batch. The bodies live in ./sql.
 *
 * Every function first locks all account rows the batch touches in one canonical order
 * (user, currency), so concurrent batches, in this process or another, queue instead of
 * deadlocking; request rows are then locked in request id order. Should a deadlock happen all
 * the same (a row created concurrently), Postgres aborts one batch and the batcher retries its
 * items one by one.
 *
 * Their statements always run on generic plans. A PL/pgSQL statement is otherwise planned anew
 * on every call whenever the planner prefers its custom plan, and planning these statements
 * cost about a third of Postgres's CPU per call (measured here), more than running them. The
 * custom plans gain nothing: the row estimates come from jsonb_to_recordset and array
 * parameters, the same for every batch.
 *
 * The functions are created at startup rather than in a migration because the migration runner
 * splits scripts on semicolons, which PL/pgSQL bodies are full of. Each name carries a hash of
 * its body: a process only ever calls the exact code it shipped with, so two versions running
 * side by side during a deploy never replace each other's functions.
 */

interface FunctionSpec {
  base: string;
  returns: string;
  body: string;
}

const SPECS = {
  authorize: {
    base: 'ledger_authorize',
    returns: 'TABLE (out_ord int, out_outcome text, out_currency text)',
    body: AUTHORIZE_BODY,
  },
  settle: {
    base: 'ledger_settle',
    returns: 'TABLE (out_ord int, out_outcome text, out_overshoot bigint, out_written_off bigint)',
    body: SETTLE_BODY,
  },
  release: {
    base: 'ledger_release',
    returns: 'TABLE (out_ord int, out_outcome text, out_released bigint)',
    body: RELEASE_BODY,
  },
} satisfies Record<string, FunctionSpec>;

export type LedgerFunction = keyof typeof SPECS;

/** Settings every function runs under (see above). */
const FUNCTION_SETTINGS = 'SET plan_cache_mode = force_generic_plan';

function versionedName(spec: FunctionSpec): string {
  const hash = createHash('sha256')
    .update(spec.returns)
    .update(FUNCTION_SETTINGS)
    .update(spec.body)
    .digest('hex');
  return `${spec.base}_${hash.slice(0, 10)}`;
}

/** The database name of each function for this build of the code. */
export const FUNCTION_NAMES: Record<LedgerFunction, string> = {
  authorize: versionedName(SPECS.authorize),
  settle: versionedName(SPECS.settle),
  release: versionedName(SPECS.release),
};

/**
 * Creates this build's functions when missing. Runs under a transaction-scoped advisory lock so
 * processes starting together do not race on the catalog.
 */
export async function installLedgerFunctions(db: Db): Promise<void> {
  await db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('creditgate.billing.functions'))`;
    for (const [key, spec] of Object.entries(SPECS)) {
      const name = FUNCTION_NAMES[key as LedgerFunction];
      const found = await tx.$queryRaw<{ n: bigint }[]>`
        SELECT count(*) AS n FROM pg_proc WHERE proname = ${name}`;
      if (found[0]!.n > 0n) continue;
      await tx.$executeRawUnsafe(
        `CREATE FUNCTION ${name}(p_items jsonb, p_now timestamptz) RETURNS ${spec.returns} ` +
          `LANGUAGE plpgsql ${FUNCTION_SETTINGS} AS $fn$${spec.body}$fn$`,
      );
    }
  });
}
