import { currencyCode } from '@creditgate/contracts';
import { z } from 'zod';
import type { BillingClient } from './client.js';
import type { historyPageOutput, openHoldsOutput, usageReportOutput } from './outputs.js';

/*
 * Reports on one user's credits, shared by the user's own tRPC procedures, the admin ones and
 * the CLI: usage by model and by day, ledger history, open holds. Billing computes them; these
 * functions fill in defaults and name the filters once.
 */

const DAY_MS = 24 * 3600 * 1000;
/** A day (`2025-01-31`, midnight UTC) or an instant with its offset. */
const date = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

export const entryKind = z.enum(['mint', 'send', 'burn', 'hold', 'release', 'tally']);

/** `from` inclusive, `to` exclusive; by default the 30 days up to now. */
export const usageRangeInput = z.object({ from: date.optional(), to: date.optional() });

export const historyFiltersInput = z.object({
  currency: currencyCode.optional(),
  /** Only these kinds: grants are `mint` and `send`, spending is `burn`. */
  kinds: z.array(entryKind).min(1).max(6).optional(),
  from: date.optional(),
  to: date.optional(),
  limit: z.number().int().min(1).max(200).optional(),
  /** `nextCursor` of the previous page. */
  cursor: z.string().min(1).max(32).optional(),
});

type CallOptions = { context: { requestId: string } } | undefined;

export function usageReport(
  billing: BillingClient,
  userId: string,
  range: z.infer<typeof usageRangeInput> = {},
  options?: CallOptions,
): Promise<z.infer<typeof usageReportOutput>> {
  const to = range.to ?? new Date().toISOString();
  const from = range.from ?? new Date(Date.parse(to) - 30 * DAY_MS).toISOString();
  return billing.usage.query({ userId, from, to }, options);
}

export function historyPage(
  billing: BillingClient,
  userId: string,
  filters: z.infer<typeof historyFiltersInput> = {},
  options?: CallOptions,
): Promise<z.infer<typeof historyPageOutput>> {
  return billing.history.query({ userId, ...filters }, options);
}

export function openHolds(
  billing: BillingClient,
  userId: string,
  options?: CallOptions,
): Promise<z.infer<typeof openHoldsOutput>> {
  return billing.holds.query({ userId }, options);
}
