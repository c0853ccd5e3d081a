import { isAppError, parseAmount } from '@creditgate/contracts';
import { loadCatalog } from '@creditgate/runtime';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase } from '../../../test/support/backends.js';
import { createDatabase, type Database } from '../src/db.js';
import {
  authorize,
  createLedger,
  grantCapability,
  mint,
  revokeCapability,
  send,
  settle,
  tally,
  verifyLedger,
  voidRequest,
  type Ledger,
} from '../src/ledger/index.js';
import { writeCatalog } from './support/billing.js';

let drop: () => Promise<void>;
let database: Database;
let ledger: Ledger;
let removeCatalog: () => void;

beforeAll(async () => {
  const testDb = await createTestDatabase('billing');
  drop = testDb.drop;
  const catalog = writeCatalog();
  removeCatalog = catalog.remove;
  database = createDatabase(testDb.url, 5);
  ledger = await createLedger(database, { catalog: loadCatalog(catalog.file) });
});
afterAll(async () => {
  await database?.close();
  await drop?.();
  removeCatalog?.();
});

const USERS = 3;
const user = fc.integer({ min: 0, max: USERS - 1 });
/** Up to 0.05 credit: a few requests' worth, so balances run dry often. */
const amount = fc.integer({ min: 1, max: 50_000_000 }).map((minor) => BigInt(minor));
const command = fc.oneof(
  fc.record({ kind: fc.constant('mint' as const), user, amount }),
  fc.record({ kind: fc.constant('tally' as const), user, amount }),
  fc.record({ kind: fc.constant('send' as const), from: user, to: user, amount }),
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('authorize' as const),
      user,
      model: fc.constantFrom('flat', 'claude-flat', 'pricey'),
      promptTokens: fc.integer({ min: 0, max: 6000 }),
      maxOutputTokens: fc.option(fc.integer({ min: 1, max: 6000 }), { nil: null }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      pick: fc.nat(),
      // Up to three times the ceiling: a cost above the hold must not break the property either.
      share: fc.integer({ min: 0, max: 300 }),
      status: fc.constantFrom('complete' as const, 'aborted' as const, 'errored' as const),
    }),
  },
  fc.record({ kind: fc.constant('void' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('overspend' as const), user, grant: fc.boolean() }),
);
type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;

let run = 0;

/** Outcomes a command may legitimately meet when it races another one. */
function expected(error: unknown): boolean {
  return (
    isAppError(error) &&
    ['insufficient_credits', 'idempotency_conflict', 'invalid_request_error'].includes(error.code)
  );
}

it('keeps every balance explained by mints, tallies and burns under concurrent random traffic', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(amount, { minLength: USERS, maxLength: USERS }),
      fc.array(fc.array(command, { minLength: 1, maxLength: 6 }), { maxLength: 10 }),
      async (opening, steps) => {
        run += 1;
        const users = Array.from({ length: USERS }, (_, index) => `usr_prop_${run}_${index}`);
        const approved: { requestId: string; promptTokens: number; maxOutputTokens: number }[] = [];
        const overspenders = new Set<string>();
        let minted = 0n;
        let tallied = 0n;
        let burned = 0n;
        let requests = 0;

        const execute = async (cmd: Command) => {
          switch (cmd.kind) {
            case 'mint':
              await mint(ledger, {
                userId: users[cmd.user]!,
                currency: 'credit',
                amount: cmd.amount,
                reason: 'grant',
              });
              minted += cmd.amount;
              return;
            case 'tally':
              await tally(ledger, {
                userId: users[cmd.user]!,
                currency: 'credit',
                amount: cmd.amount,
                reason: 'fix',
              });
              tallied += cmd.amount;
              return;
            case 'send':
              await send(ledger, {
                fromUserId: users[cmd.from]!,
                toUserId: users[cmd.to]!,
                currency: 'credit',
                amount: cmd.amount,
                reason: 'transfer',
              });
              return;
            case 'authorize': {
              requests += 1;
              const requestId = `req_prop_${run}_${requests}`;
              const { result } = await authorize(ledger, {
                requestId,
                userId: users[cmd.user]!,
                modelId: cmd.model,
                routeClass: 'platform',
                promptTokens: cmd.promptTokens,
                maxOutputTokens: cmd.maxOutputTokens,
              });
              if (result.decision === 'approved') {
                approved.push({
                  requestId,
                  promptTokens: cmd.promptTokens,
                  maxOutputTokens: result.maxOutputTokens!,
                });
              }
              return;
            }
            case 'settle': {
              const request = approved[cmd.pick % Math.max(approved.length, 1)];
              if (!request) return;
              const scale = (tokens: number) => Math.floor((tokens * cmd.share) / 100);
              const outcome = await settle(ledger, {
                requestId: request.requestId,
                usage: {
                  input: scale(request.promptTokens),
                  output: scale(request.maxOutputTokens),
                  cacheRead: 0,
                  cacheWrite: 0,
                  cacheWrite1h: 0,
                  reasoning: 0,
                },
                status: cmd.status,
                usageEstimated: false,
              });
              if (!outcome.replayed) burned += parseAmount(outcome.result.cost);
              return;
            }
            case 'void': {
              const request = approved[cmd.pick % Math.max(approved.length, 1)];
              if (request)
                await voidRequest(ledger, { requestId: request.requestId, reason: 'test' });
              return;
            }
            case 'overspend':
              if (cmd.grant) {
                overspenders.add(users[cmd.user]!);
                await grantCapability(ledger, {
                  userId: users[cmd.user]!,
                  capability: 'overspend',
                });
              } else {
                await revokeCapability(ledger, {
                  userId: users[cmd.user]!,
                  capability: 'overspend',
                });
              }
              return;
          }
        };

        for (const [index, userId] of users.entries()) {
          await mint(ledger, {
            userId,
            currency: 'credit',
            amount: opening[index]!,
            reason: 'opening',
          });
          minted += opening[index]!;
        }

        for (const step of steps) {
          // The commands of a step run concurrently, so they share batches and race on rows.
          const results = await Promise.allSettled(step.map(execute));
          for (const result of results) {
            if (result.status === 'rejected' && !expected(result.reason)) throw result.reason;
          }

          const accounts = await ledger.db.account.findMany({ where: { userId: { in: users } } });
          for (const account of accounts) {
            if (!overspenders.has(account.userId))
              expect(account.balance).toBeGreaterThanOrEqual(0n);
          }
        }

        const accounts = await ledger.db.account.findMany({ where: { userId: { in: users } } });
        const total = accounts.reduce((sum, account) => sum + account.balance, 0n);
        expect(total).toBe(minted + tallied - burned);
      },
    ),
    { numRuns: 25 },
  );

  expect(await verifyLedger(ledger)).toMatchObject({ ok: true, mismatches: [] });
});
