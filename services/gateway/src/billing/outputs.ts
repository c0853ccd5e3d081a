import { usageSchema } from '@creditgate/contracts';
import { z } from 'zod';

/**
 * The shapes billing's answers take on the gateway's public API. Declaring them here keeps the
 * gateway's router type self-contained (a typed client needs nothing from billing) and strips
 * anything billing might add that users should not see.
 */
export const capabilityName = z.enum(['overspend', 'admin', 'mint', 'send']);

export const capabilityStateOutput = z.object({
  capability: capabilityName,
  active: z.boolean(),
  expiresAt: z.string().nullable(),
});

export const capabilityListOutput = z.object({
  capabilities: z.array(capabilityStateOutput),
  history: z.array(
    z.object({
      capability: capabilityName,
      action: z.enum(['grant', 'revoke']),
      expiresAt: z.string().nullable(),
      at: z.string(),
      actorId: z.string().nullable(),
    }),
  ),
});

export const historyPageOutput = z.object({
  entries: z.array(
    z.object({
      id: z.string(),
      at: z.string(),
      kind: z.enum(['mint', 'send', 'burn', 'hold', 'release', 'tally']),
      currency: z.string(),
      amount: z.string(),
      counterpartyId: z.string().nullable(),
      reason: z.string(),
      causeId: z.string().nullable(),
      modelId: z.string().nullable(),
      usage: z.record(z.string(), z.number()).nullable(),
      pricingVersion: z.string().nullable(),
    }),
  ),
  nextCursor: z.string().nullable(),
});

export const requestDetailsOutput = z.object({
  requestId: z.string(),
  modelId: z.string(),
  routeClass: z.string(),
  status: z.enum(['held', 'unmetered', 'denied', 'settled', 'voided', 'expired']),
  decision: z.string(),
  reason: z.string(),
  currency: z.string().nullable(),
  hold: z.string(),
  settleStatus: z.string().nullable(),
  usage: usageSchema.nullable(),
  usageEstimated: z.boolean().nullable(),
  cost: z.string().nullable(),
  writtenOff: z.string(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});

const usageBucket = z.object({
  requests: z.number(),
  tokens: usageSchema,
  /** Per currency, decimal strings; unmetered requests count tokens, not cost. */
  cost: z.record(z.string(), z.string()),
});

export const usageReportOutput = z.object({
  from: z.string(),
  to: z.string(),
  total: usageBucket,
  byModel: z.array(usageBucket.extend({ modelId: z.string(), routeClass: z.string() })),
  byDay: z.array(usageBucket.extend({ day: z.string() })),
});

export const openHoldsOutput = z.object({
  holds: z.array(
    z.object({
      requestId: z.string(),
      modelId: z.string(),
      currency: z.string().nullable(),
      amount: z.string(),
      at: z.string(),
    }),
  ),
});
