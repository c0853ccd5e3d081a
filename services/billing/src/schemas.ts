import {
  DEFAULT_CURRENCY,
  authorizeInput,
  currencyCode,
  decimalAmount,
  parseAmount,
  positiveAmount,
  requestId,
} from '@creditgate/contracts';
import { z } from 'zod';

/*
 * Inputs of the billing procedures that have no shared contract. Amounts arrive as decimal
 * credit strings and leave this file as minor units; dates arrive as ISO strings.
 */

const userId = authorizeInput.shape.userId;
const currency = currencyCode.default(DEFAULT_CURRENCY);
const reason = z.string().trim().min(1).max(200);
const causeId = z.string().min(1).max(128);
/** The user on whose behalf the gateway acts; omitted for operator actions (the admin CLI). */
const actorUserId = userId.optional();

const toMinor = (text: string) => parseAmount(text);
/** Cursors are entry sequence numbers, a Postgres BIGINT. */
const MAX_CURSOR = 2n ** 63n - 1n;
/**
 * An ISO date or date-time between the years 1 and 9999: what Postgres timestamps and
 * JavaScript dates both hold, so a valid-looking date never fails in the query.
 */
export const dateInput = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .transform((text) => new Date(text))
  .refine((date) => {
    const year = date.getUTCFullYear();
    return !Number.isNaN(date.getTime()) && year >= 1 && year <= 9999;
  }, 'must be a real date between the years 1 and 9999');

export const capabilityName = z.enum(['overspend', 'admin', 'mint', 'send']);

export const userInput = z.object({ userId });

export const mintInput = z.object({
  userId,
  amount: positiveAmount.transform(toMinor),
  currency,
  reason: reason.default('grant'),
  causeId: causeId.optional(),
  actorUserId,
});

export const sendInput = z.object({
  fromUserId: userId,
  toUserId: userId,
  amount: positiveAmount.transform(toMinor),
  currency,
  reason: reason.default('transfer'),
  causeId: causeId.optional(),
  actorUserId,
});

export const tallyInput = z.object({
  userId,
  amount: decimalAmount.transform(toMinor).refine((amount) => amount !== 0n, 'must not be zero'),
  currency,
  reason,
  causeId: causeId.optional(),
  actorUserId,
});

export const entryKind = z.enum(['mint', 'send', 'burn', 'hold', 'release', 'tally']);

export const historyInput = z.object({
  userId,
  currency: currencyCode.optional(),
  /** Only entries of these kinds (grants are `mint` and `send`, spending is `burn`). */
  kinds: z.array(entryKind).min(1).max(6).optional(),
  /** Entries at or after `from` and before `to`. */
  from: dateInput.optional(),
  to: dateInput.optional(),
  limit: z.number().int().min(1).max(200).default(50),
  cursor: z
    .string()
    // Stop here on malformed text: the refinement parses it, and refinements run otherwise.
    .regex(/^\d{1,19}$/, { message: 'is not a cursor from a previous page', abort: true })
    .refine((text) => BigInt(text) <= MAX_CURSOR, 'is not a cursor from a previous page')
    .optional(),
});

export const usageInput = z.object({ userId, from: dateInput, to: dateInput });

export const requestInput = z.object({ requestId, userId });

export const grantInput = z.object({
  userId,
  capability: capabilityName,
  expiresAt: dateInput.optional(),
  actorUserId,
});

export const revokeInput = z.object({ userId, capability: capabilityName, actorUserId });

export const checkInput = z.object({ userId, capability: capabilityName });
