import { AppError, formatAmount, MAX_AMOUNT, newId } from '@creditgate/contracts';
import type { EntryKind } from '../generated/prisma/client.js';
import { requireActor } from './capabilities.js';
import type { Ledger } from './context.js';

export interface BalanceChange {
  entryId: string;
  userId: string;
  currency: string;
  /** Signed change applied, as a decimal string. */
  amount: string;
  /** The account after the change, as decimal strings. */
  balance: string;
  available: string;
}

function balanceOutOfRange(): AppError {
  return new AppError(
    'invalid_request_error',
    `the balance would leave the range of ±${formatAmount(MAX_AMOUNT)} credits an account can hold`,
  );
}

/**
 * Writes one balance entry (mint or tally) and applies it to the account in the same statement,
 * creating the account on first use.
 */
async function applyEntry(
  ledger: Ledger,
  kind: Extract<EntryKind, 'mint' | 'tally'>,
  input: { userId: string; currency: string; amount: bigint; reason: string; causeId?: string },
): Promise<BalanceChange> {
  const now = ledger.now();
  const entryId = newId('entry');
  // Amounts are at most MAX_AMOUNT (the input schemas) and so are balances (the WHERE below), so
  // the sum cannot overflow BIGINT; a change that would take the balance past the bound writes
  // nothing, the entry included (it is inserted only for the account row that was updated).
  const rows = await ledger.db.$queryRaw<{ balance: bigint; held: bigint }[]>`
    WITH account AS (
      INSERT INTO accounts AS a (user_id, currency, balance, held, created_at, updated_at)
      VALUES (${input.userId}, ${input.currency}, ${input.amount}::bigint, 0, ${now}, ${now})
      ON CONFLICT (user_id, currency)
      DO UPDATE SET balance = a.balance + EXCLUDED.balance, updated_at = EXCLUDED.updated_at
      WHERE a.balance + EXCLUDED.balance BETWEEN ${-MAX_AMOUNT}::bigint AND ${MAX_AMOUNT}::bigint
      RETURNING a.balance, a.held
    ), entry AS (
      INSERT INTO entries (id, created_at, kind, user_id, currency, amount, reason, cause_id)
      SELECT ${entryId}, ${now}, ${kind}::entry_kind, ${input.userId}, ${input.currency},
             ${input.amount}::bigint, ${input.reason}, ${input.causeId ?? null}
      FROM account
    )
    SELECT balance, held FROM account`;
  if (rows.length === 0) throw balanceOutOfRange();
  const { balance, held } = rows[0]!;
  return {
    entryId,
    userId: input.userId,
    currency: input.currency,
    amount: formatAmount(input.amount),
    balance: formatAmount(balance),
    available: formatAmount(balance - held),
  };
}

/** Grants credits to a user. Needs the `mint` or `admin` capability when a user acts. */
export async function mint(
  ledger: Ledger,
  input: {
    userId: string;
    currency: string;
    amount: bigint;
    reason: string;
    causeId?: string;
    actorId?: string;
  },
): Promise<BalanceChange> {
  if (input.amount <= 0n) throw new AppError('invalid_request_error', 'amount must be positive');
  await requireActor(ledger, input.actorId, ['mint', 'admin']);
  return applyEntry(ledger, 'mint', input);
}

/**
 * An admin correction, positive or negative. It is applied as given, even below zero: it records
 * a fact (a refund, a charge made elsewhere), not a spending decision.
 */
export async function tally(
  ledger: Ledger,
  input: {
    userId: string;
    currency: string;
    amount: bigint;
    reason: string;
    causeId?: string;
    actorId?: string;
  },
): Promise<BalanceChange> {
  if (input.amount === 0n) throw new AppError('invalid_request_error', 'amount must not be zero');
  await requireActor(ledger, input.actorId, ['admin']);
  return applyEntry(ledger, 'tally', input);
}

export interface SendResult {
  fromUserId: string;
  toUserId: string;
  currency: string;
  amount: string;
  /** The sender's available balance after the transfer. */
  fromAvailable: string;
}

/**
 * Moves credits between users. Only the sender's available balance (balance minus holds) can
 * be sent: the overspend allowance never funds a transfer. A user acting needs the `send`
 * capability and may only send from their own account (`admin` may send from any).
 */
export async function send(
  ledger: Ledger,
  input: {
    fromUserId: string;
    toUserId: string;
    currency: string;
    amount: bigint;
    reason: string;
    causeId?: string;
    actorId?: string;
  },
): Promise<SendResult> {
  if (input.amount <= 0n) throw new AppError('invalid_request_error', 'amount must be positive');
  if (input.fromUserId === input.toUserId) {
    throw new AppError('invalid_request_error', 'cannot send credits to the same user');
  }
  if (input.actorId !== undefined) {
    const required =
      input.actorId === input.fromUserId ? (['send', 'admin'] as const) : (['admin'] as const);
    await requireActor(ledger, input.actorId, required);
  }

  const now = ledger.now();
  const senderEntryId = newId('entry');
  // Both sides share a cause: the caller's, else the sender's entry.
  const causeId = input.causeId ?? senderEntryId;
  return ledger.db.$transaction(async (tx) => {
    await tx.$executeRaw`
      INSERT INTO accounts (user_id, currency, balance, held, created_at, updated_at)
      VALUES (${input.toUserId}, ${input.currency}, 0, 0, ${now}, ${now})
      ON CONFLICT (user_id, currency) DO NOTHING`;
    // Both rows locked in (user, currency) order, the order every ledger statement uses.
    const locked = await tx.$queryRaw<{ user_id: string; balance: bigint; held: bigint }[]>`
      SELECT user_id, balance, held FROM accounts
      WHERE currency = ${input.currency} AND user_id IN (${input.fromUserId}, ${input.toUserId})
      ORDER BY user_id FOR UPDATE`;
    const sender = locked.find((row) => row.user_id === input.fromUserId);
    const receiver = locked.find((row) => row.user_id === input.toUserId);
    const available = sender ? sender.balance - sender.held : 0n;
    if (available < input.amount) {
      throw new AppError(
        'insufficient_credits',
        'the available balance does not cover the amount',
        {
          details: { available: formatAmount(available) },
        },
      );
    }
    if ((receiver?.balance ?? 0n) + input.amount > MAX_AMOUNT) throw balanceOutOfRange();

    await tx.$executeRaw`
      UPDATE accounts SET
        balance = balance + CASE WHEN user_id = ${input.fromUserId} THEN -${input.amount}::bigint
                                 ELSE ${input.amount}::bigint END,
        updated_at = ${now}
      WHERE currency = ${input.currency} AND user_id IN (${input.fromUserId}, ${input.toUserId})`;
    await tx.entry.createMany({
      data: [
        {
          id: senderEntryId,
          createdAt: now,
          kind: 'send',
          userId: input.fromUserId,
          counterpartyId: input.toUserId,
          currency: input.currency,
          amount: -input.amount,
          reason: input.reason,
          causeId,
        },
        {
          id: newId('entry'),
          createdAt: now,
          kind: 'send',
          userId: input.toUserId,
          counterpartyId: input.fromUserId,
          currency: input.currency,
          amount: input.amount,
          reason: input.reason,
          causeId,
        },
      ],
    });
    return {
      fromUserId: input.fromUserId,
      toUserId: input.toUserId,
      currency: input.currency,
      amount: formatAmount(input.amount),
      fromAvailable: formatAmount(available - input.amount),
    };
  });
}

/** Balance, held and available per currency, as decimal strings. */
export async function balanceOf(ledger: Ledger, userId: string) {
  const accounts = await ledger.db.account.findMany({
    where: { userId },
    orderBy: { currency: 'asc' },
  });
  const totals: Record<string, string> = {};
  const held: Record<string, string> = {};
  const available: Record<string, string> = {};
  for (const account of accounts) {
    totals[account.currency] = formatAmount(account.balance);
    held[account.currency] = formatAmount(account.held);
    available[account.currency] = formatAmount(account.balance - account.held);
  }
  return { totals, held, available };
}

/**
 * The user's entries, newest first, `limit` at a time; pass `nextCursor` back for older ones.
 * Optionally only some kinds, and only between `from` (inclusive) and `to` (exclusive).
 */
export async function history(
  ledger: Ledger,
  input: {
    userId: string;
    currency?: string;
    kinds?: EntryKind[];
    from?: Date;
    to?: Date;
    limit: number;
    cursor?: string;
  },
) {
  if (input.from && input.to && input.to.getTime() <= input.from.getTime()) {
    throw new AppError('invalid_request_error', '`to` must be after `from`');
  }
  const entries = await ledger.db.entry.findMany({
    where: {
      userId: input.userId,
      ...(input.currency ? { currency: input.currency } : {}),
      ...(input.kinds ? { kind: { in: input.kinds } } : {}),
      ...(input.from || input.to ? { createdAt: { gte: input.from, lt: input.to } } : {}),
      ...(input.cursor ? { seq: { lt: BigInt(input.cursor) } } : {}),
    },
    orderBy: { seq: 'desc' },
    take: input.limit + 1,
  });
  const page = entries.slice(0, input.limit);
  return {
    entries: page.map((entry) => ({
      id: entry.id,
      at: entry.createdAt.toISOString(),
      kind: entry.kind,
      currency: entry.currency,
      amount: formatAmount(entry.amount),
      counterpartyId: entry.counterpartyId,
      reason: entry.reason,
      causeId: entry.causeId,
      modelId: entry.modelId,
      usage: entry.usage as Record<string, number> | null,
      pricingVersion: entry.pricingVersion,
    })),
    nextCursor: entries.length > input.limit ? page[page.length - 1]!.seq.toString() : null,
  };
}

/** Holds still open for the user, oldest first. */
export async function openHolds(ledger: Ledger, userId: string) {
  const requests = await ledger.db.request.findMany({
    where: { userId, status: 'held' },
    orderBy: { createdAt: 'asc' },
    take: 500,
    select: { requestId: true, modelId: true, currency: true, holdAmount: true, createdAt: true },
  });
  return requests.map((request) => ({
    requestId: request.requestId,
    modelId: request.modelId,
    currency: request.currency,
    amount: formatAmount(request.holdAmount),
    at: request.createdAt.toISOString(),
  }));
}
