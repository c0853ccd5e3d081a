import { z } from 'zod';
import { currencyCode, decimalAmount } from './money.js';
import { tokenCount, usageSchema, wireChannelPrices } from './pricing.js';
import { REQUEST_ID_RE } from './ids.js';

/**
 * How a request will be executed, which decides how billing treats it:
 * - `custom_endpoint`: the user's own server; costs the platform nothing.
 * - `platform`: a catalog model served with the operator's provider key; metered.
 * - `platform_byo`: a catalog model served with the user's own provider key; not metered.
 */
export const routeClass = z.enum(['custom_endpoint', 'platform', 'platform_byo']);
export type RouteClass = z.infer<typeof routeClass>;

export const decisionReason = z.enum([
  'custom_endpoint',
  'byo_key',
  'balance',
  'overspend',
  'insufficient_credits',
]);
export type DecisionReason = z.infer<typeof decisionReason>;

export const requestId = z.string().regex(REQUEST_ID_RE, 'is not a valid request id');

export const authorizeInput = z.object({
  requestId,
  userId: z.string().min(1).max(64),
  /** Catalog id for platform routes, the custom model id for custom endpoints. */
  modelId: z.string().min(1).max(200),
  routeClass,
  /** Prompt tokens as counted by the gateway's tokenizer. */
  promptTokens: tokenCount,
  /** The client's output cap, or null to let billing pick the most the balance affords. */
  maxOutputTokens: tokenCount.positive().nullable(),
});
export type AuthorizeInput = z.infer<typeof authorizeInput>;

export const authorizeResult = z.object({
  requestId,
  decision: z.enum(['approved', 'denied']),
  reason: decisionReason,
  /** Currency the hold was placed in; null when nothing is held. */
  currency: currencyCode.nullable(),
  /** Amount held, as a decimal credit string ("0" when unmetered). */
  hold: decimalAmount,
  /** Output cap to send upstream; null to send none. */
  maxOutputTokens: z.number().int().positive().nullable(),
  /** True when billing lowered the output cap to what the balance affords. */
  outputClamped: z.boolean(),
  /** On `insufficient_credits` for a client-given cap: how many output tokens the balance buys. */
  affordableOutputTokens: z.number().int().nonnegative().optional(),
  /** True when this request id was authorized before and the stored answer was replayed. */
  replayed: z.boolean().optional(),
  /**
   * For a metered approval: the prices the hold was priced at, which settle burns at too, so
   * the worker can tell the client the cost without waiting for settle (see decisionCost).
   */
  prices: wireChannelPrices.optional(),
  /**
   * For a hold: when, in milliseconds since the epoch, settle must have reached billing. The
   * hold expires a margin later and its credits become available again, so an answer still
   * running then is cut and settled for what it produced (see the worker's relay).
   */
  settleBy: z.number().int().positive().optional(),
});
export type AuthorizeResult = z.infer<typeof authorizeResult>;

export const settleStatus = z.enum(['complete', 'aborted', 'errored']);
export type SettleStatus = z.infer<typeof settleStatus>;

export const settleInput = z.object({
  requestId,
  usage: usageSchema,
  status: settleStatus,
  /** True when the upstream reported no usage and the worker counted tokens itself. */
  usageEstimated: z.boolean().default(false),
});
export type SettleInput = z.infer<typeof settleInput>;

export const settleResult = z.object({
  requestId,
  status: settleStatus,
  /** Credits burned for this request, as a decimal string. */
  cost: decimalAmount,
  currency: currencyCode.nullable(),
});
export type SettleResult = z.infer<typeof settleResult>;

export const voidInput = z.object({ requestId, reason: z.string().min(1).max(200) });
export type VoidInput = z.infer<typeof voidInput>;
