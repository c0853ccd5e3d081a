import { AppError, formatAmount, newId, type VoidInput } from '@creditgate/contracts';
import type { RequestStatus } from '../generated/prisma/client.js';
import { releaseBatch } from './batches.js';
import type { Ledger } from './context.js';

export interface VoidOutcome {
  requestId: string;
  /** The request's status after the call: `voided`, or what it already was (expired, denied). */
  status: RequestStatus;
  /** Credits released by this call, as a decimal string. */
  released: string;
}

/**
 * Releases the hold of a request that never ran (the job could not be enqueued, the worker
 * refused it). Calling it again, or on a request that expired or was denied, changes nothing;
 * voiding a settled request is a conflict, since its tokens were already paid for.
 */
export async function voidRequest(ledger: Ledger, input: VoidInput): Promise<VoidOutcome> {
  const [row] = await releaseBatch(ledger.pool, ledger.now(), [
    {
      request_id: input.requestId,
      target: 'voided',
      reason: input.reason,
      entry_id: newId('entry'),
      cutoff: null,
    },
  ]);
  ledger.recent.forget(input.requestId);

  if (row!.outcome === 'missing') {
    throw new AppError('not_found', `request ${input.requestId} was never authorized`);
  }
  if (row!.outcome === 'released') {
    return { requestId: input.requestId, status: 'voided', released: formatAmount(row!.released) };
  }

  const stored = await ledger.db.request.findUniqueOrThrow({
    where: { requestId: input.requestId },
    select: { status: true },
  });
  if (stored.status === 'settled') {
    throw new AppError('idempotency_conflict', `request ${input.requestId} is already settled`);
  }
  return { requestId: input.requestId, status: stored.status, released: '0' };
}

const SWEEP_BATCH = 500;

/**
 * Releases every hold older than the hold TTL at `now` (status `expired`). A request settled
 * after expiry still pays: settle burns its cost without a hold to release.
 */
export async function sweepExpiredHolds(ledger: Ledger, now: Date = ledger.now()) {
  const cutoff = new Date(now.getTime() - ledger.holdTtlMs);
  let expired = 0;

  for (;;) {
    const candidates = await ledger.db.request.findMany({
      where: { status: 'held', createdAt: { lt: cutoff } },
      orderBy: { createdAt: 'asc' },
      take: SWEEP_BATCH,
      select: { requestId: true },
    });
    if (candidates.length === 0) break;

    const rows = await releaseBatch(
      ledger.pool,
      now,
      candidates.map(({ requestId }) => ({
        request_id: requestId,
        target: 'expired' as const,
        reason: 'hold expired',
        entry_id: newId('entry'),
        cutoff: cutoff.toISOString(),
      })),
    );
    expired += rows.filter((row) => row.outcome === 'released').length;
    if (candidates.length < SWEEP_BATCH) break;
  }
  return expired;
}
