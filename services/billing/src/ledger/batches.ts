import type pg from 'pg';
import { FUNCTION_NAMES } from './functions.js';

/*
 * Typed calls of the batch functions in functions.ts. Item fields are snake_case because they
 * are the functions' record definitions; amounts travel as decimal strings of minor units (JSON
 * has no 64-bit integers). Every item carries `ord`, its position in the batch, and rows are
 * matched back by it, since the functions return them in an order of their own. These calls go
 * to the pg pool directly (see db.ts) as named prepared statements, so each connection parses
 * and plans the call once; int8 columns arrive as strings and are converted here.
 */

export interface AuthorizeRecord {
  /** Position in the batch, set when the batch is sent. */
  ord?: number;
  request_id: string;
  user_id: string;
  model_id: string;
  route_class: string;
  prompt_tokens: number;
  requested_output_tokens: number | null;
  mode: 'hold' | 'force' | 'record';
  currencies: string[];
  amount: string;
  decision: 'approved' | 'denied';
  reason: string;
  status: 'held' | 'unmetered' | 'denied';
  max_output_tokens: number | null;
  output_clamped: boolean;
  affordable_output_tokens: number | null;
  pricing_version: string | null;
  entry_id: string;
}
export interface AuthorizeRow {
  outcome: 'held' | 'recorded' | 'short' | 'replay';
  currency: string | null;
}

export interface SettleRecord {
  /** Position in the batch, set when the batch is sent. */
  ord?: number;
  request_id: string;
  pricing_version: string | null;
  cost: string;
  settle_status: string;
  usage_estimated: boolean;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cache_write_1h_tokens: number;
  reasoning_tokens: number;
  usage: Record<string, number>;
  release_entry_id: string;
  burn_entry_id: string;
}
export interface SettleRow {
  outcome: 'settled' | 'missing' | 'replay' | 'stale';
  overshoot: bigint;
  writtenOff: bigint;
}

export interface ReleaseRecord {
  /** Position in the batch, set when the batch is sent. */
  ord?: number;
  request_id: string;
  target: 'voided' | 'expired';
  reason: string;
  entry_id: string;
  /** Expiry only: the hold must have been created before this instant. */
  cutoff: string | null;
}
export interface ReleaseRow {
  outcome: 'released' | 'skipped' | 'missing';
  released: bigint;
}

/** The batch as the functions' jsonb argument, each item numbered by its position. */
function withOrd<T extends { ord?: number }>(items: T[]): string {
  // The records are this module's own, made for one call: numbering them in place spares a
  // copy of every item. A single item retried alone is renumbered 0.
  items.forEach((item, ord) => {
    item.ord = ord;
  });
  return JSON.stringify(items);
}

function byOrd<R extends { ord: number }>(rows: R[], count: number): R[] {
  const ordered = new Array<R>(count);
  for (const row of rows) ordered[row.ord] = row;
  return ordered;
}

export async function authorizeBatch(pool: pg.Pool, now: Date, items: AuthorizeRecord[]) {
  const { rows } = await pool.query<{
    ord: number;
    outcome: AuthorizeRow['outcome'];
    currency: string | null;
  }>({
    name: FUNCTION_NAMES.authorize,
    text: `SELECT out_ord AS ord, out_outcome AS outcome, out_currency AS currency
           FROM ${FUNCTION_NAMES.authorize}($1::jsonb, $2::timestamptz)`,
    values: [withOrd(items), now.toISOString()],
  });
  return byOrd(rows, items.length).map((row): AuthorizeRow => ({
    outcome: row.outcome,
    currency: row.currency,
  }));
}

export async function settleBatch(pool: pg.Pool, now: Date, items: SettleRecord[]) {
  const { rows } = await pool.query<{
    ord: number;
    outcome: SettleRow['outcome'];
    overshoot: string;
    written_off: string;
  }>({
    name: FUNCTION_NAMES.settle,
    text: `SELECT out_ord AS ord, out_outcome AS outcome, out_overshoot AS overshoot,
                  out_written_off AS written_off
           FROM ${FUNCTION_NAMES.settle}($1::jsonb, $2::timestamptz)`,
    values: [withOrd(items), now.toISOString()],
  });
  return byOrd(rows, items.length).map((row): SettleRow => ({
    outcome: row.outcome,
    overshoot: BigInt(row.overshoot),
    writtenOff: BigInt(row.written_off),
  }));
}

export async function releaseBatch(pool: pg.Pool, now: Date, items: ReleaseRecord[]) {
  const { rows } = await pool.query<{
    ord: number;
    outcome: ReleaseRow['outcome'];
    released: string;
  }>({
    name: FUNCTION_NAMES.release,
    text: `SELECT out_ord AS ord, out_outcome AS outcome, out_released AS released
           FROM ${FUNCTION_NAMES.release}($1::jsonb, $2::timestamptz)`,
    values: [withOrd(items), now.toISOString()],
  });
  return byOrd(rows, items.length).map((row): ReleaseRow => ({
    outcome: row.outcome,
    released: BigInt(row.released),
  }));
}
