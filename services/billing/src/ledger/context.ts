import type { Catalog } from '@creditgate/contracts';
import type pg from 'pg';
import type { Database, Db } from '../db.js';
import type { CustomEndpointPrices } from '../env.js';
import {
  authorizeBatch,
  settleBatch,
  type AuthorizeRecord,
  type AuthorizeRow,
  type SettleRecord,
  type SettleRow,
} from './batches.js';
import { Batcher } from './batcher.js';
import { installLedgerFunctions } from './functions.js';
import { PriceBook } from './pricing.js';
import { RecentRequests } from './recent.js';

export type Clock = () => Date;

export interface LedgerOptions {
  catalog: Catalog;
  customEndpointPrices?: CustomEndpointPrices;
  /** Meter custom endpoints at their configured prices instead of approving them for free. */
  meterCustomEndpoints?: boolean;
  /** When false, BYO provider keys are neither used nor exempt: such requests are metered. */
  byoKeysEnabled?: boolean;
  holdTtlSeconds?: number;
  now?: Clock;
  /** Most requests per batch (default 64). */
  maxBatch?: number;
  /**
   * Batches of one kind running at once (default 1). One is fastest, measured: the next batch
   * gathers everything that arrives meanwhile, and concurrent batches on a busy account would
   * only queue on its row lock.
   */
  maxInFlight?: number;
  /** Told the size of every authorize and settle batch sent to the database. */
  onBatch?: (kind: 'authorize' | 'settle', size: number) => void;
}

/** Everything the ledger's domain functions need: the database, prices, settings and a clock. */
export interface Ledger {
  db: Db;
  /** The pool under `db`, used directly on the authorize and settle paths. */
  pool: pg.Pool;
  pricing: PriceBook;
  now: Clock;
  meterCustomEndpoints: boolean;
  byoKeysEnabled: boolean;
  holdTtlMs: number;
  holds: Batcher<AuthorizeRecord, AuthorizeRow>;
  settlements: Batcher<SettleRecord, SettleRow>;
  recent: RecentRequests;
}

/** Prepares the database (batch functions, pricing versions) and returns the ledger. */
export async function createLedger(
  database: Pick<Database, 'prisma' | 'pool'>,
  options: LedgerOptions,
): Promise<Ledger> {
  const { prisma: db, pool } = database;
  const now = options.now ?? (() => new Date());
  const pricing = new PriceBook(options.catalog, options.customEndpointPrices ?? {});
  await installLedgerFunctions(db);
  await pricing.register(db);

  const batching = (kind: 'authorize' | 'settle') => ({
    maxBatch: options.maxBatch ?? 64,
    maxInFlight: options.maxInFlight ?? 1,
    onBatch: options.onBatch && ((size: number) => options.onBatch!(kind, size)),
  });
  return {
    db,
    pool,
    pricing,
    now,
    meterCustomEndpoints: options.meterCustomEndpoints ?? false,
    byoKeysEnabled: options.byoKeysEnabled ?? true,
    holdTtlMs: (options.holdTtlSeconds ?? 600) * 1000,
    holds: new Batcher((items) => authorizeBatch(pool, now(), items), batching('authorize')),
    settlements: new Batcher((items) => settleBatch(pool, now(), items), batching('settle')),
    recent: new RecentRequests(50_000),
  };
}
