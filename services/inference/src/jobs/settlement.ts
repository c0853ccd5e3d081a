import type { SettleInput, SettleResult, VoidInput } from '@creditgate/contracts';
import type { Logger } from '@creditgate/runtime';
import { billingFailureKind, type BillingClient } from '../billing-client.js';

/** Delays between billing attempts: about 15 s in all, enough to ride out a billing restart. */
const RETRY_DELAYS_MS = [200, 500, 1_000, 2_000, 4_000, 8_000];

export type SettleOutcome =
  | { kind: 'settled'; result: SettleResult }
  /** The request id was settled or voided before with other content; that record stands. */
  | { kind: 'conflict' }
  | { kind: 'failed' };

export interface SettlementOptions {
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls billing until it answers. Retrying is safe because settle and void are idempotent by
 * request id: a call that reached billing before its answer was lost is recognised, not repeated.
 */
async function withRetries<T>(
  call: () => Promise<T>,
  log: Logger,
  what: string,
  options: SettlementOptions,
): Promise<{ kind: 'ok'; value: T } | { kind: 'conflict' } | { kind: 'failed' }> {
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;

  for (let attempt = 0; ; attempt++) {
    try {
      return { kind: 'ok', value: await call() };
    } catch (error) {
      const kind = billingFailureKind(error);
      switch (kind) {
        case 'conflict':
          log.warn(
            `billing ${what}: the request id was already recorded differently; keeping that record`,
          );
          return { kind: 'conflict' };
        case 'refused':
          log.error({ err: error }, `billing refused ${what}`);
          return { kind: 'failed' };
        case 'transient': {
          const delay = RETRY_DELAYS_MS[attempt];
          if (delay === undefined) {
            log.error({ err: error }, `billing ${what} failed after ${attempt + 1} attempts`);
            return { kind: 'failed' };
          }
          log.warn({ err: error, attempt: attempt + 1 }, `billing ${what} failed; retrying`);
          await sleep(Math.round(delay * (0.75 + random() * 0.5)));
          break;
        }
      }
    }
  }
}

export async function settleRequest(
  billing: BillingClient,
  input: SettleInput,
  log: Logger,
  options: SettlementOptions = {},
): Promise<SettleOutcome> {
  const outcome = await withRetries(() => billing.settle(input), log, 'settle', options);
  return outcome.kind === 'ok' ? { kind: 'settled', result: outcome.value } : outcome;
}

/** Releases the hold of a request that was never sent upstream. */
export async function voidRequest(
  billing: BillingClient,
  input: VoidInput,
  log: Logger,
  options: SettlementOptions = {},
): Promise<boolean> {
  const outcome = await withRetries(() => billing.void(input), log, 'void', options);
  return outcome.kind !== 'failed';
}
