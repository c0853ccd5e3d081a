import { AppError, formatAmount, ZERO_USAGE, type Usage } from '@creditgate/contracts';
import type { Ledger } from './context.js';

interface UsageRow {
  model_id: string;
  route_class: string;
  day: string;
  currency: string | null;
  requests: number;
  input: bigint;
  output: bigint;
  cache_read: bigint;
  cache_write: bigint;
  cache_write_1h: bigint;
  reasoning: bigint;
  cost: bigint;
}

class UsageBucket {
  requests = 0;
  tokens: Usage = { ...ZERO_USAGE };
  private readonly costs = new Map<string, bigint>();

  add(row: UsageRow): void {
    this.requests += row.requests;
    this.tokens.input += Number(row.input);
    this.tokens.output += Number(row.output);
    this.tokens.cacheRead += Number(row.cache_read);
    this.tokens.cacheWrite += Number(row.cache_write);
    this.tokens.cacheWrite1h += Number(row.cache_write_1h);
    this.tokens.reasoning += Number(row.reasoning);
    // Unmetered requests (no currency) count for requests and tokens, not for cost.
    if (row.currency !== null) {
      this.costs.set(row.currency, (this.costs.get(row.currency) ?? 0n) + row.cost);
    }
  }

  summary() {
    const cost: Record<string, string> = {};
    for (const [currency, amount] of this.costs) cost[currency] = formatAmount(amount);
    return { requests: this.requests, tokens: this.tokens, cost };
  }
}

/**
 * Settled requests of a user between `from` (inclusive) and `to` (exclusive), by the time they
 * were authorized: per model and per UTC day, with tokens per channel and cost per currency.
 */
export async function usageReport(ledger: Ledger, input: { userId: string; from: Date; to: Date }) {
  if (input.to.getTime() <= input.from.getTime()) {
    throw new AppError('invalid_request_error', '`to` must be after `from`');
  }
  const rows = await ledger.db.$queryRaw<UsageRow[]>`
    SELECT model_id, route_class, currency,
           to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
           count(*)::int AS requests,
           coalesce(sum(input_tokens), 0)::bigint AS input,
           coalesce(sum(output_tokens), 0)::bigint AS output,
           coalesce(sum(cache_read_tokens), 0)::bigint AS cache_read,
           coalesce(sum(cache_write_tokens), 0)::bigint AS cache_write,
           coalesce(sum(cache_write_1h_tokens), 0)::bigint AS cache_write_1h,
           coalesce(sum(reasoning_tokens), 0)::bigint AS reasoning,
           coalesce(sum(cost), 0)::bigint AS cost
    FROM requests
    WHERE user_id = ${input.userId} AND status = 'settled'
      AND created_at >= ${input.from} AND created_at < ${input.to}
    GROUP BY 1, 2, 3, 4
    ORDER BY 4, 1`;

  const total = new UsageBucket();
  const byModel = new Map<string, { modelId: string; routeClass: string; bucket: UsageBucket }>();
  const byDay = new Map<string, UsageBucket>();
  for (const row of rows) {
    total.add(row);
    const modelKey = `${row.route_class}\u0000${row.model_id}`;
    let model = byModel.get(modelKey);
    if (!model) {
      model = { modelId: row.model_id, routeClass: row.route_class, bucket: new UsageBucket() };
      byModel.set(modelKey, model);
    }
    model.bucket.add(row);
    let day = byDay.get(row.day);
    if (!day) byDay.set(row.day, (day = new UsageBucket()));
    day.add(row);
  }

  return {
    from: input.from.toISOString(),
    to: input.to.toISOString(),
    total: total.summary(),
    byModel: [...byModel.values()].map(({ modelId, routeClass, bucket }) => ({
      modelId,
      routeClass,
      ...bucket.summary(),
    })),
    byDay: [...byDay].map(([day, bucket]) => ({ day, ...bucket.summary() })),
  };
}

/**
 * One request as its owner may see it: tokens per channel, cost, currency, route class and
 * status. Another user's request answers not_found, exactly like an unknown id.
 */
export async function requestDetails(ledger: Ledger, input: { requestId: string; userId: string }) {
  const request = await ledger.db.request.findUnique({ where: { requestId: input.requestId } });
  if (!request || request.userId !== input.userId) {
    throw new AppError('not_found', `request ${input.requestId} not found`);
  }
  const settled = request.status === 'settled';
  return {
    requestId: request.requestId,
    modelId: request.modelId,
    routeClass: request.routeClass,
    status: request.status,
    decision: request.decision,
    reason: request.reason,
    currency: request.currency,
    hold: formatAmount(request.holdAmount),
    settleStatus: request.settleStatus,
    usage: settled
      ? {
          input: request.inputTokens ?? 0,
          output: request.outputTokens ?? 0,
          cacheRead: request.cacheReadTokens ?? 0,
          cacheWrite: request.cacheWriteTokens ?? 0,
          cacheWrite1h: request.cacheWrite1hTokens ?? 0,
          reasoning: request.reasoningTokens ?? 0,
        }
      : null,
    usageEstimated: request.usageEstimated,
    /** What was charged; `writtenOff` is the part of the price no balance covered. */
    cost: request.cost === null ? null : formatAmount(request.cost),
    writtenOff: formatAmount(request.writtenOff),
    createdAt: request.createdAt.toISOString(),
    finishedAt: request.finishedAt?.toISOString() ?? null,
  };
}
