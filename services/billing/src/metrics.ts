import { createMetrics } from '@creditgate/runtime';
import { Counter, Gauge } from 'prom-client';
import type { Db } from './db.js';

/** HTTP and process metrics from the runtime, plus the ledger's own. */
export function createBillingMetrics(db: Db) {
  const base = createMetrics('billing');
  const registers = [base.registry];

  return {
    ...base,
    authorizations: new Counter({
      name: 'billing_authorizations_total',
      help: 'Authorization decisions by decision and reason (replays not counted)',
      labelNames: ['decision', 'reason'] as const,
      registers,
    }),
    creditsBurned: new Counter({
      name: 'billing_credits_burned_total',
      help: 'Credits burned by settled requests, by currency and model',
      labelNames: ['currency', 'model'] as const,
      registers,
    }),
    holdOvershoots: new Counter({
      name: 'billing_hold_overshoot_total',
      help: 'Settles whose actual cost exceeded the hold (prompt under-estimated)',
      labelNames: ['model'] as const,
      registers,
    }),
    holdOvershootCredits: new Counter({
      name: 'billing_hold_overshoot_credits_total',
      help: 'Credits a settled cost came to beyond its hold, by currency',
      labelNames: ['currency'] as const,
      registers,
    }),
    writtenOffCredits: new Counter({
      name: 'billing_written_off_credits_total',
      help: 'Credits settled requests cost but no available balance covered, by currency',
      labelNames: ['currency'] as const,
      registers,
    }),
    ledgerBatches: new Counter({
      name: 'billing_ledger_batches_total',
      help: 'Authorize and settle batches sent to the database (one transaction each), by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    ledgerBatchItems: new Counter({
      name: 'billing_ledger_batch_items_total',
      help: 'Calls carried by those batches, by kind (items per batch = items / batches)',
      labelNames: ['kind'] as const,
      registers,
    }),
    openHolds: new Gauge({
      name: 'billing_open_holds',
      help: 'Requests holding credits right now (all billing processes)',
      registers,
      async collect() {
        const rows = await db.$queryRaw<{ n: bigint }[]>`
          SELECT count(*) AS n FROM requests WHERE status = 'held'`;
        this.set(Number(rows[0]!.n));
      },
    }),
  };
}

export type BillingMetrics = ReturnType<typeof createBillingMetrics>;

/** Custom model ids are per user: one label for all of them keeps the series count bounded. */
export function modelLabel(routeClass: string, modelId: string): string {
  return routeClass === 'custom_endpoint' ? 'custom_endpoint' : modelId;
}

/** Minor units as credits, for metrics only (floats are fine there, never in the ledger). */
export function toCredits(minor: bigint): number {
  return Number(minor) / 1e9;
}
