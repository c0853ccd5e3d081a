import { AppError, currencyCode, positiveAmount } from '@creditgate/contracts';
import { z } from 'zod';
import { requireUser } from '../auth/users.js';
import type { PrismaClient } from '../db.js';
import { traced, type BillingClient } from './client.js';
import { capabilityName, capabilityStateOutput } from './outputs.js';

type CapabilityState = z.infer<typeof capabilityStateOutput>;

/**
 * Ledger actions for operators (the CLI) and users (tRPC). Billing owns the ledger and decides
 * who may do what: a call with `actorUserId` is checked against that user's capabilities there;
 * a call without one is the operator's. The gateway checks that the users named exist here, so
 * a typo never mints credits to nobody.
 */
const userId = z.string().min(1).max(64);
const reason = z.string().trim().min(1).max(200);

export const mintInput = z.object({
  userId,
  amount: positiveAmount,
  currency: currencyCode.optional(),
  reason: reason.optional(),
});

export const sendInput = z.object({
  fromUserId: userId,
  toUserId: userId,
  amount: positiveAmount,
  currency: currencyCode.optional(),
  reason: reason.optional(),
});

export const grantCapabilityInput = z.object({
  userId,
  capability: capabilityName,
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});

export const revokeCapabilityInput = z.object({ userId, capability: capabilityName });

interface LedgerDeps {
  prisma: PrismaClient;
  billing: BillingClient;
}

/** Who acts, and the request a call serves; both absent for the operator at the CLI. */
export interface Actor {
  userId: string;
  requestId: string;
}

const callOptions = (actor?: Actor) => (actor ? traced(actor.requestId) : undefined);

export async function mint(deps: LedgerDeps, input: z.infer<typeof mintInput>, actor?: Actor) {
  await requireUser(deps.prisma, input.userId);
  return deps.billing.mint.mutate({ ...input, actorUserId: actor?.userId }, callOptions(actor));
}

export async function send(deps: LedgerDeps, input: z.infer<typeof sendInput>, actor?: Actor) {
  await requireUser(deps.prisma, input.fromUserId);
  try {
    await requireUser(deps.prisma, input.toUserId);
  } catch (error) {
    // Whether a user exists is told only to a caller who may send: anyone else hears what
    // billing would have answered, so user ids cannot be probed this way.
    if (actor && !(await maySend(deps, actor))) {
      throw new AppError('forbidden', 'this action needs the send or admin capability');
    }
    throw error;
  }
  return deps.billing.send.mutate({ ...input, actorUserId: actor?.userId }, callOptions(actor));
}

async function maySend(deps: LedgerDeps, actor: Actor): Promise<boolean> {
  for (const capability of ['send', 'admin'] as const) {
    const { active } = await deps.billing.capabilities.check.query(
      { userId: actor.userId, capability },
      callOptions(actor),
    );
    if (active) return true;
  }
  return false;
}

export async function grantCapability(
  deps: LedgerDeps,
  input: z.infer<typeof grantCapabilityInput>,
  actor?: Actor,
): Promise<CapabilityState> {
  await requireUser(deps.prisma, input.userId);
  return deps.billing.capabilities.grant.mutate(
    { ...input, actorUserId: actor?.userId },
    callOptions(actor),
  );
}

export async function revokeCapability(
  deps: LedgerDeps,
  input: z.infer<typeof revokeCapabilityInput>,
  actor?: Actor,
): Promise<CapabilityState> {
  await requireUser(deps.prisma, input.userId);
  return deps.billing.capabilities.revoke.mutate(
    { ...input, actorUserId: actor?.userId },
    callOptions(actor),
  );
}
