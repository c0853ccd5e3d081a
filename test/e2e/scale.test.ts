import { parseAmount } from '@creditgate/contracts';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gate, streamReply } from '../support/fake-upstream.js';
import {
  auditLedger,
  logsSaying,
  startProcessStack,
  streamChat,
  type ChatOutcome,
  type ProcessStack,
  type ServiceProcess,
  type StreamingRequest,
} from '../support/processes.js';
import { OPENAI_SCENARIO } from '../support/stack.js';

/**
 * Two gateways and three workers, each its own process, on one Postgres and one Redis: several
 * users call through both gateways at once with the official client, and the ledger must come
 * out exact (every request burned once, at the cost its client was told), with no hold left,
 * and no balance taken below zero by requests racing through different gateways.
 */
const MODEL = 'gpt-4o-mini';
const GRANT = '10';

let ps: ProcessStack;
let gateways: ServiceProcess[];
let workers: ServiceProcess[];

const pieces = (count: number) => Array.from({ length: count }, (_, i) => `t${i} `);

beforeAll(async () => {
  ps = await startProcessStack();
  await ps.startBilling();
  // A few jobs per worker, so a burst has to spread over all three.
  workers = await Promise.all(
    [1, 2, 3].map((n) => ps.startWorker(`inference-${n}`, { WORKER_CONCURRENCY: '4' })),
  );
  gateways = await Promise.all([ps.startGateway('gateway-1'), ps.startGateway('gateway-2')]);
}, 120_000);

afterAll(async () => {
  await ps?.close();
});

/** One non-streamed completion; its outcome like streamChat's. */
async function completeChat(client: OpenAI, content: string): Promise<ChatOutcome> {
  try {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content }],
    });
    const cost = (completion.usage as { cost?: string } | undefined)?.cost;
    return {
      kind: 'complete',
      requestId: completion.id,
      content: completion.choices[0]?.message.content ?? '',
      cost: cost!,
      finishReason: completion.choices[0]?.finish_reason ?? '',
    };
  } catch (error) {
    return { kind: 'error', requestId: undefined, error };
  }
}

describe('two gateways and three workers on one Postgres and Redis', () => {
  it('serve concurrent users through both gateways; every request is burned once, at its reported cost', async () => {
    ps.upstream.scenario(
      OPENAI_SCENARIO,
      streamReply({ content: pieces(6), usage: { prompt: 14, completion: 6 } }, undefined, {
        intervalMs: 15,
      }),
    );
    const users = await Promise.all(
      ['ana', 'ben', 'cleo', 'dev'].map((name) => ps.createUser(name, GRANT)),
    );

    // Per user and gateway: three streamed requests and one plain one, all at once.
    const calls: Array<{ userId: string; outcome: Promise<ChatOutcome> }> = [];
    for (const user of users) {
      for (const gateway of gateways) {
        const client = ps.openai(user.apiKey, gateway);
        for (let i = 0; i < 3; i++) {
          const { outcome } = streamChat(client, { model: MODEL, content: `stream ${i}` });
          calls.push({ userId: user.userId, outcome });
        }
        calls.push({ userId: user.userId, outcome: completeChat(client, 'plain') });
      }
    }
    const outcomes = await Promise.all(calls.map((call) => call.outcome));

    expect(outcomes.map((outcome) => outcome.kind)).toEqual(Array(32).fill('complete'));
    const complete = outcomes as Array<Extract<ChatOutcome, { kind: 'complete' }>>;
    expect(complete.every((outcome) => outcome.content === pieces(6).join(''))).toBe(true);
    expect(new Set(complete.map((outcome) => outcome.requestId)).size).toBe(32);

    const audit = await auditLedger(
      ps.billing,
      users.map((user) => user.userId),
    );
    expect(audit.verify.ok).toBe(true);
    expect(audit.openHolds).toBe(0);
    expect(audit.burns.size).toBe(32);
    for (const outcome of complete) {
      expect(audit.burns.get(outcome.requestId)).toEqual([parseAmount(outcome.cost)]);
    }

    // Each user's balance, read through either gateway, is the grant less what they were told.
    for (const [index, user] of users.entries()) {
      const told = calls
        .map((call, i) => ({ call, outcome: complete[i]! }))
        .filter(({ call }) => call.userId === user.userId)
        .reduce((sum, { outcome }) => sum + parseAmount(outcome.cost), 0n);
      const gateway = gateways[index % 2]!;
      const { totals } = await ps.trpc(user.apiKey, gateway).credits.balance.query();
      expect(parseAmount(totals.credit!)).toBe(parseAmount(GRANT) - told);
    }

    // The burst was spread: every worker settled some of it.
    for (const worker of workers) {
      expect(logsSaying(worker, 'request settled').length, worker.name).toBeGreaterThan(0);
    }
  });

  it('never let a small balance be overspent by requests racing through both gateways', async () => {
    const held = gate();
    ps.upstream.scenario(
      OPENAI_SCENARIO,
      streamReply(
        { content: pieces(4), usage: { prompt: 14, completion: 4 } },
        {
          after: 0,
          release: held.promise,
        },
      ),
    );
    // Enough for two or three holds of 20 output tokens, not for ten.
    const user = await ps.createUser('tight', '0.00003');
    const requests = Array.from({ length: 10 }, (_, i) =>
      streamChat(ps.openai(user.apiKey, gateways[i % 2]!), {
        model: MODEL,
        content: `tight ${i}`,
        maxTokens: 20,
      }),
    );

    // While the upstream holds the approved ones, every request is either refused or there.
    await allDecided(requests);
    held.open();
    const outcomes = await Promise.all(requests.map((request) => request.outcome));

    const complete = outcomes.filter((outcome) => outcome.kind === 'complete');
    const refused = outcomes.filter((outcome) => outcome.kind === 'error');
    expect(complete.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(complete.length).toBe(ps.upstream.requests(OPENAI_SCENARIO).length);
    for (const outcome of refused) {
      expect((outcome.error as APIError).status).toBe(402);
      expect((outcome.error as APIError).code).toBe('insufficient_credits');
    }

    const audit = await auditLedger(ps.billing, [user.userId]);
    expect(audit.verify.ok).toBe(true);
    expect(audit.openHolds).toBe(0);
    const told = complete.reduce((sum, outcome) => sum + parseAmount(outcome.cost), 0n);
    expect(audit.burned).toBe(told);
    const { totals } = await ps.trpc(user.apiKey, gateways[0]!).credits.balance.query();
    expect(parseAmount(totals.credit!)).toBe(parseAmount('0.00003') - told);
    expect(parseAmount(totals.credit!)).toBeGreaterThanOrEqual(0n);
  });
});

/** Resolves once every request was either refused or has reached the upstream. */
async function allDecided(requests: StreamingRequest[]) {
  const finished = new Set<number>();
  requests.forEach((request, i) => void request.outcome.then(() => finished.add(i)));
  for (;;) {
    const reached = ps.upstream.requests(OPENAI_SCENARIO).length;
    if (reached + finished.size >= requests.length) return;
    const pending = requests.filter((_, i) => !finished.has(i)).map((r) => r.outcome);
    await Promise.race([ps.upstream.requested(OPENAI_SCENARIO, reached + 1), ...pending]);
  }
}
