import {
  AppError,
  DEFAULT_CURRENCY,
  affordableOutputTokens,
  ceilingOf,
  formatAmount,
  MAX_TOKENS,
  newId,
  pricesToWire,
  type AuthorizeInput,
  type AuthorizeResult,
} from '@creditgate/contracts';
import type { AuthorizeRecord } from './batches.js';
import { hasCapability } from './capabilities.js';
import type { Ledger } from './context.js';
import type { ModelPricing } from './pricing.js';

export interface AuthorizeOutcome {
  result: AuthorizeResult;
  /** True when the answer is the stored one of an earlier identical call. */
  replayed: boolean;
}

/**
 * Attempts at a clamped hold before giving up. Each failed attempt means another request took
 * the money in between, so a few attempts are plenty and the loop cannot spin on a busy account.
 */
const CLAMP_ATTEMPTS = 3;

type Route =
  | { metered: false; reason: 'custom_endpoint' | 'byo_key' }
  | { metered: true; pricing: ModelPricing };

function resolveRoute(ledger: Ledger, input: AuthorizeInput): Route {
  if (input.routeClass === 'custom_endpoint') {
    return ledger.meterCustomEndpoints
      ? { metered: true, pricing: ledger.pricing.customEndpoint(input.modelId) }
      : { metered: false, reason: 'custom_endpoint' };
  }

  const pricing = ledger.pricing.platformModel(input.modelId);
  if (!pricing)
    throw new AppError('model_not_found', `model "${input.modelId}" is not in the catalog`);
  // With BYO keys switched off, the worker sends the operator's key, so the request pays.
  if (input.routeClass === 'platform_byo' && ledger.byoKeysEnabled) {
    return { metered: false, reason: 'byo_key' };
  }
  return { metered: true, pricing };
}

/**
 * Decides whether a request may run and, for a metered one, holds its ceiling.
 *
 * The common case is one batched statement: hold the full ceiling on the first applicable
 * currency that covers it. Only when none does, balances and the overspend capability are read
 * to pick between an overspend hold, a clamped output cap and a denial. Every decision, denials
 * included, is stored under the request id, so a retry gets the same answer.
 */
export async function authorize(ledger: Ledger, input: AuthorizeInput): Promise<AuthorizeOutcome> {
  // The contract bounds both already; checked again because token counts are stored as 32-bit
  // integers and ledger functions may be called without it.
  if (input.promptTokens > MAX_TOKENS || (input.maxOutputTokens ?? 0) > MAX_TOKENS) {
    throw new AppError(
      'invalid_request_error',
      `token counts above ${MAX_TOKENS} are not accepted`,
    );
  }
  const route = resolveRoute(ledger, input);

  if (!route.metered) {
    return place(ledger, input, null, {
      mode: 'record',
      decision: 'approved',
      reason: route.reason,
      status: 'unmetered',
      max_output_tokens: input.maxOutputTokens,
    });
  }

  const { pricing } = route;
  const wanted = input.maxOutputTokens ?? pricing.maxOutputTokens;
  const ceiling = ceilingOf(pricing.prices, input.promptTokens, wanted);
  const fullHold = {
    mode: 'hold',
    currencies: pricing.currencies,
    amount: ceiling,
    decision: 'approved',
    reason: 'balance',
    status: 'held',
    max_output_tokens: wanted,
  } as const;

  const first = await submit(ledger, input, pricing, fullHold);
  if (first) return first;

  let affordable = 0;
  for (let attempt = 0; attempt < CLAMP_ATTEMPTS; attempt++) {
    const [available, overspend] = await Promise.all([
      availableBalances(ledger, input.userId, pricing.currencies),
      hasCapability(ledger, input.userId, 'overspend'),
    ]);

    if (overspend) {
      // Overspend draws on `credit`, the general currency, never on a model-specific one.
      return place(ledger, input, pricing, {
        ...fullHold,
        mode: 'force',
        currencies: [DEFAULT_CURRENCY],
        reason: 'overspend',
      });
    }

    const best = bestCurrency(pricing, input.promptTokens, wanted, available);
    affordable = best?.tokens ?? 0;
    if (best && best.tokens >= wanted) {
      // Money came back (a release) since the first attempt: try the normal hold again.
      const retried = await submit(ledger, input, pricing, fullHold);
      if (retried) return retried;
      continue;
    }
    if (input.maxOutputTokens !== null || !best || best.tokens < 1) break;

    // No cap from the client: a small balance buys a short answer rather than a refusal.
    const clamped = await submit(ledger, input, pricing, {
      ...fullHold,
      currencies: [best.currency],
      amount: ceilingOf(pricing.prices, input.promptTokens, best.tokens),
      max_output_tokens: best.tokens,
      output_clamped: true,
    });
    if (clamped) return clamped;
  }

  return place(ledger, input, pricing, {
    mode: 'record',
    decision: 'denied',
    reason: 'insufficient_credits',
    status: 'denied',
    max_output_tokens: null,
    affordable_output_tokens: affordable,
  });
}

type Decision = Pick<
  AuthorizeRecord,
  'mode' | 'decision' | 'reason' | 'status' | 'max_output_tokens'
> &
  Partial<Pick<AuthorizeRecord, 'currencies' | 'output_clamped' | 'affordable_output_tokens'>> & {
    amount?: bigint;
  };

/**
 * Sends one decision through the authorize batch. Returns the outcome, or null when a hold found
 * no currency with enough available balance (nothing was written).
 */
async function submit(
  ledger: Ledger,
  input: AuthorizeInput,
  pricing: ModelPricing | null,
  decision: Decision,
): Promise<AuthorizeOutcome | null> {
  const record: AuthorizeRecord = {
    request_id: input.requestId,
    user_id: input.userId,
    model_id: input.modelId,
    route_class: input.routeClass,
    prompt_tokens: input.promptTokens,
    requested_output_tokens: input.maxOutputTokens,
    mode: decision.mode,
    currencies: decision.currencies ?? [],
    amount: (decision.amount ?? 0n).toString(),
    decision: decision.decision,
    reason: decision.reason,
    status: decision.status,
    max_output_tokens: decision.max_output_tokens,
    output_clamped: decision.output_clamped ?? false,
    affordable_output_tokens: decision.affordable_output_tokens ?? null,
    pricing_version: pricing?.pricingVersion ?? null,
    entry_id: newId('entry'),
  };

  const submitted = ledger.now();
  const row = await ledger.holds.submit(record);
  if (row.outcome === 'short') return null;
  if (row.outcome === 'replay') return { result: await replay(ledger, input), replayed: true };

  if (record.decision === 'approved') {
    ledger.recent.remember(input.requestId, {
      userId: input.userId,
      modelId: input.modelId,
      routeClass: input.routeClass,
      metered: row.currency !== null,
      currency: row.currency,
      pricingVersion: record.pricing_version,
    });
  }
  const result = toResult({
    requestId: input.requestId,
    decision: record.decision,
    reason: record.reason,
    currency: row.currency,
    hold: row.currency === null ? 0n : BigInt(record.amount),
    maxOutputTokens: record.max_output_tokens,
    outputClamped: record.output_clamped,
    affordableOutputTokens: record.affordable_output_tokens,
  });
  // The prices settle will burn at (it reads the same pricing version), for the cost shown.
  if (record.decision === 'approved' && row.currency !== null) {
    if (pricing) result.prices = pricesToWire(pricing.prices);
    // The hold's row is stored at or after `submitted`, so this is never later than the truth.
    result.settleBy = settleBy(ledger, submitted);
  }
  return { result, replayed: false };
}

/** Stores a decision that cannot fall short: nothing held (unmetered, denied) or an overspend. */
async function place(
  ledger: Ledger,
  input: AuthorizeInput,
  pricing: ModelPricing | null,
  decision: Decision & { mode: 'record' | 'force' },
): Promise<AuthorizeOutcome> {
  const outcome = await submit(ledger, input, pricing, decision);
  if (!outcome) throw new Error(`request ${input.requestId}: a ${decision.mode} fell short`);
  return outcome;
}

interface StoredDecision {
  requestId: string;
  decision: string;
  reason: string;
  currency: string | null;
  hold: bigint;
  maxOutputTokens: number | null;
  outputClamped: boolean;
  affordableOutputTokens: number | null;
}

/**
 * When settle must have reached billing for a hold placed at `placedAt`: the hold's expiry (the
 * sweeper releases it then) less a margin for the worker's settle retries, a quarter of the
 * hold's lifetime and at most a minute.
 */
function settleBy(ledger: Ledger, placedAt: Date): number {
  const margin = Math.min(60_000, Math.floor(ledger.holdTtlMs / 4));
  return placedAt.getTime() + ledger.holdTtlMs - margin;
}

/** One mapping for fresh and replayed answers, so both are identical. */
function toResult(stored: StoredDecision): AuthorizeResult {
  return {
    requestId: stored.requestId,
    decision: stored.decision as AuthorizeResult['decision'],
    reason: stored.reason as AuthorizeResult['reason'],
    currency: stored.currency,
    hold: formatAmount(stored.hold),
    maxOutputTokens: stored.maxOutputTokens,
    outputClamped: stored.outputClamped,
    ...(stored.affordableOutputTokens === null
      ? {}
      : { affordableOutputTokens: stored.affordableOutputTokens }),
  };
}

/** The stored answer for a request id seen before, if the call is the same; else a conflict. */
async function replay(ledger: Ledger, input: AuthorizeInput): Promise<AuthorizeResult> {
  const stored = await ledger.db.request.findUnique({ where: { requestId: input.requestId } });
  if (!stored) throw new Error(`request ${input.requestId} reported as recorded but not found`);

  const same =
    stored.userId === input.userId &&
    stored.modelId === input.modelId &&
    stored.routeClass === input.routeClass &&
    stored.promptTokens === input.promptTokens &&
    stored.requestedOutputTokens === input.maxOutputTokens;
  if (!same) {
    throw new AppError(
      'idempotency_conflict',
      `request ${input.requestId} was already authorized with different parameters`,
    );
  }
  const result = toResult({
    requestId: stored.requestId,
    decision: stored.decision,
    reason: stored.reason,
    currency: stored.currency,
    hold: stored.holdAmount,
    maxOutputTokens: stored.maxOutputTokens,
    outputClamped: stored.outputClamped,
    affordableOutputTokens: stored.affordableOutputTokens,
  });
  if (stored.decision === 'approved' && stored.currency !== null) {
    if (stored.pricingVersion !== null) {
      result.prices = pricesToWire(
        await ledger.pricing.pricesFor(ledger.db, stored.pricingVersion),
      );
    }
    result.settleBy = settleBy(ledger, stored.createdAt);
  }
  return result;
}

async function availableBalances(ledger: Ledger, userId: string, currencies: string[]) {
  const { rows } = await ledger.pool.query<{ currency: string; available: string }>(
    `SELECT currency, (balance - held)::text AS available FROM accounts
     WHERE user_id = $1 AND currency = ANY ($2)`,
    [userId, currencies],
  );
  return new Map(rows.map((row) => [row.currency, BigInt(row.available)]));
}

/** The currency affording the most output tokens (up to `wanted`); the earlier one on a tie. */
function bestCurrency(
  pricing: ModelPricing,
  promptTokens: number,
  wanted: number,
  available: Map<string, bigint>,
): { currency: string; tokens: number } | null {
  let best: { currency: string; tokens: number } | null = null;
  for (const currency of pricing.currencies) {
    const budget = available.get(currency) ?? 0n;
    if (budget <= 0n) continue;
    const tokens = Math.min(wanted, affordableOutputTokens(pricing.prices, promptTokens, budget));
    if (!best || tokens > best.tokens) best = { currency, tokens };
  }
  return best;
}
