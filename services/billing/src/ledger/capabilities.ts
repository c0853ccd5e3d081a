import { AppError } from '@creditgate/contracts';
import { Capability } from '../generated/prisma/client.js';
import type { Ledger } from './context.js';

export interface CapabilityState {
  capability: Capability;
  active: boolean;
  /** When an active grant lapses; null for a grant without expiry or an inactive capability. */
  expiresAt: Date | null;
}

/**
 * The latest record per (user, capability) decides: a revoke after a grant wins, a later grant
 * wins over a revoke, and a grant whose expiry has passed (by the ledger's clock) is inactive.
 */
export async function capabilityState(
  ledger: Ledger,
  userId: string,
  capability: Capability,
): Promise<CapabilityState> {
  // Read on every authorization that falls short of balance, hence straight from the pool.
  const { rows } = await ledger.pool.query<{ action: string; expires_at: Date | null }>(
    `SELECT action, expires_at FROM capability_events
     WHERE user_id = $1 AND capability = $2 ORDER BY seq DESC LIMIT 1`,
    [userId, capability],
  );
  const latest = rows[0];
  const active =
    latest?.action === 'grant' &&
    (latest.expires_at === null || latest.expires_at.getTime() > ledger.now().getTime());
  return { capability, active, expiresAt: active ? latest.expires_at : null };
}

export async function hasCapability(ledger: Ledger, userId: string, capability: Capability) {
  return (await capabilityState(ledger, userId, capability)).active;
}

/**
 * Checks that the user acting holds one of `required`. An absent actor is the operator (the
 * admin CLI or another service acting on its own authority), who may do anything.
 */
export async function requireActor(
  ledger: Ledger,
  actorId: string | undefined,
  required: readonly Capability[],
): Promise<void> {
  if (actorId === undefined) return;
  for (const capability of required) {
    if (await hasCapability(ledger, actorId, capability)) return;
  }
  throw new AppError('forbidden', `this action needs the ${required.join(' or ')} capability`);
}

export async function grantCapability(
  ledger: Ledger,
  input: { userId: string; capability: Capability; expiresAt?: Date; actorId?: string },
): Promise<CapabilityState> {
  await requireActor(ledger, input.actorId, ['admin']);
  const now = ledger.now();
  if (input.expiresAt && input.expiresAt.getTime() <= now.getTime()) {
    throw new AppError('invalid_request_error', 'expiresAt must be in the future');
  }

  await ledger.db.capabilityEvent.create({
    data: {
      userId: input.userId,
      capability: input.capability,
      action: 'grant',
      expiresAt: input.expiresAt ?? null,
      createdAt: now,
      actorId: input.actorId ?? null,
    },
  });
  return capabilityState(ledger, input.userId, input.capability);
}

export async function revokeCapability(
  ledger: Ledger,
  input: { userId: string; capability: Capability; actorId?: string },
): Promise<CapabilityState> {
  await requireActor(ledger, input.actorId, ['admin']);
  await ledger.db.capabilityEvent.create({
    data: {
      userId: input.userId,
      capability: input.capability,
      action: 'revoke',
      createdAt: ledger.now(),
      actorId: input.actorId ?? null,
    },
  });
  return capabilityState(ledger, input.userId, input.capability);
}

/** The state of every capability, and the user's history of changes, newest first. */
export async function listCapabilities(ledger: Ledger, userId: string) {
  const [capabilities, events] = await Promise.all([
    Promise.all(Object.values(Capability).map((name) => capabilityState(ledger, userId, name))),
    ledger.db.capabilityEvent.findMany({ where: { userId }, orderBy: { seq: 'desc' }, take: 200 }),
  ]);
  return {
    capabilities,
    history: events.map((event) => ({
      capability: event.capability,
      action: event.action,
      expiresAt: event.expiresAt,
      at: event.createdAt,
      actorId: event.actorId,
    })),
  };
}
