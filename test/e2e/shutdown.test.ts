import { INFERENCE_QUEUE, parseAmount, redisKeys } from '@creditgate/contracts';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gate, streamReply } from '../support/fake-upstream.js';
import {
  auditLedger,
  logsSaying,
  settledCount,
  startProcessStack,
  streamChat,
  terminate,
  type ChatOutcome,
  type ProcessStack,
  type ServiceProcess,
  type StreamingRequest,
  waitForLog,
} from '../support/processes.js';
import { OPENAI_SCENARIO } from '../support/stack.js';

/**
 * SIGTERM under load, with every service a real process: a worker hands back what has not
 * streamed and finishes what has; a gateway stops accepting, lets streams finish until its
 * deadline, then cancels the rest, which the worker settles as aborted. Nothing is billed twice,
 * no hold stays open, nothing is lost. The fake upstream holds its answers at chosen points
 * (gates), so each step waits on an event, never on the clock.
 */
const MODEL = 'gpt-4o-mini';
/** The gateway that is stopped cancels what is still open this long after SIGTERM. */
const GATEWAY_GRACE_MS = 4_000;

let ps: ProcessStack;
let worker1: ServiceProcess;
let worker2: ServiceProcess;
let gateway1: ServiceProcess;
let gateway2: ServiceProcess;
let users: Array<{ userId: string; apiKey: string }>;
const outcomes: ChatOutcome[] = [];

const pieces = (count: number) => Array.from({ length: count }, (_, i) => `t${i} `);

beforeAll(async () => {
  ps = await startProcessStack();
  await ps.startBilling();
  // A minute of grace: the worker must not wait for jobs that can go back to the queue.
  worker1 = await ps.startWorker('inference-1', { SHUTDOWN_GRACE_MS: '60000' });
  [gateway1, gateway2] = await Promise.all([
    ps.startGateway('gateway-1', { SHUTDOWN_GRACE_MS: String(GATEWAY_GRACE_MS) }),
    ps.startGateway('gateway-2'),
  ]);
  users = await Promise.all(['ada', 'bob', 'cy'].map((name) => ps.createUser(name, '10')));
}, 120_000);

afterAll(async () => {
  await ps?.close();
});

/** Starts `count` streamed requests through `gateway`, spread over the users. */
function load(gateway: ServiceProcess, count: number, tag: string): StreamingRequest[] {
  return Array.from({ length: count }, (_, i) => {
    const user = users[i % users.length]!;
    return streamChat(ps.openai(user.apiKey, gateway), { model: MODEL, content: `${tag} ${i}` });
  });
}

async function outcomesOf(requests: StreamingRequest[]) {
  const done = await Promise.all(requests.map((request) => request.outcome));
  outcomes.push(...done);
  return done;
}

describe('SIGTERM to a worker mid-load', () => {
  it('hands back the jobs that streamed nothing, finishes the others, and another worker completes the handed-back ones', async () => {
    const streaming = gate();
    const waiting = gate();
    ps.upstream.scenario(
      OPENAI_SCENARIO,
      // The first four answers start streaming, then pause; the rest wait before their first token.
      ...Array.from({ length: 4 }, () =>
        streamReply(
          { content: pieces(12) },
          { after: 3, release: streaming.promise },
          { intervalMs: 10 },
        ),
      ),
      streamReply(
        { content: pieces(8) },
        { after: 0, release: waiting.promise },
        { intervalMs: 10 },
      ),
    );

    const requests = [...load(gateway1, 6, 'w-a'), ...load(gateway2, 6, 'w-b')];
    await ps.upstream.requested(OPENAI_SCENARIO, 12);
    await settledCount(
      requests.map((request) => request.firstChunk),
      4,
    );

    worker2 = await ps.startWorker('inference-2');
    const stopped = terminate(worker1);
    const stopping = await waitForLog(worker1, (entry) => entry.handedBack !== undefined);
    expect(stopping).toMatchObject({ handedBack: 8, streaming: 4 });

    // The eight go back to the queue at once and reach the upstream again from the other worker,
    // while the stopping worker still waits for its four streams.
    await ps.upstream.requested(OPENAI_SCENARIO, 20);
    expect(worker1.child.exitCode).toBeNull();
    streaming.open();
    expect(await stopped).toBe(0);
    waiting.open();

    const done = await outcomesOf(requests);
    expect(done.map((outcome) => outcome.kind)).toEqual(Array(12).fill('complete'));

    // The stopped worker's log is complete (terminate waits for its output to end); the other
    // worker's lines may trail its clients' answers, so those are waited for.
    const handedBack = logsSaying(
      worker1,
      'worker shutting down; request handed back to the queue',
    );
    const settledBy1 = logsSaying(worker1, 'request settled');
    // A fetch the stopping worker had in flight may pick one of them up once more; it goes
    // straight back, before any upstream call (the upstream saw exactly 20 requests).
    const handedBackIds = [...new Set(handedBack.map((entry) => entry.requestId))];
    expect(handedBackIds).toHaveLength(8);
    expect(ps.upstream.requests(OPENAI_SCENARIO)).toHaveLength(20);
    expect(settledBy1.map((entry) => entry.status)).toEqual(Array(4).fill('complete'));
    expect(settledBy1.some((entry) => handedBackIds.includes(entry.requestId))).toBe(false);

    const settledBy2 = await Promise.all(
      handedBackIds.map((requestId) =>
        waitForLog(
          worker2,
          (entry) => entry.msg === 'request settled' && entry.requestId === requestId,
        ),
      ),
    );
    expect(settledBy2.map((entry) => entry.status)).toEqual(Array(8).fill('complete'));
  });
});

describe('SIGTERM to a gateway mid-load', () => {
  it('refuses new requests, lets streams finish until the deadline, then cancels the rest as aborted', async () => {
    const finishing = gate();
    const stuck = gate();
    ps.upstream.scenario(
      OPENAI_SCENARIO,
      ...Array.from({ length: 2 }, () =>
        streamReply(
          { content: pieces(10) },
          { after: 3, release: finishing.promise },
          { intervalMs: 10 },
        ),
      ),
      streamReply(
        { content: pieces(10) },
        { after: 3, release: stuck.promise },
        { intervalMs: 10 },
      ),
    );

    // Gateway 1's six streams take the upstream's first answers: two of them may finish.
    const onGateway1 = load(gateway1, 6, 'g-a');
    await Promise.all(onGateway1.map((request) => request.firstChunk));
    const onGateway2 = load(gateway2, 3, 'g-b');
    await Promise.all(onGateway2.map((request) => request.firstChunk));

    const stopped = terminate(gateway1);
    await waitForLog(gateway1, (entry) => entry.msg === 'gateway shutting down');
    const [refused] = await outcomesOf([
      streamChat(ps.openai(users[0]!.apiKey, gateway1), { model: MODEL, content: 'too late' }),
    ]);
    // Refused at the door; should it have slipped in just before the listener closed, it is
    // cut at the deadline like the others, and settled before the ledger is checked.
    expect(refused!.kind).toBe('error');

    finishing.open();
    expect(await stopped).toBe(0);
    const ended = await outcomesOf(onGateway1);
    const completed = ended.filter((outcome) => outcome.kind === 'complete');
    const cut = ended.filter((outcome) => outcome.kind === 'error');
    expect(completed).toHaveLength(2);
    expect(cut).toHaveLength(4);
    for (const outcome of cut) {
      expect(outcome.error).toBeInstanceOf(APIError);
      expect((outcome.error as APIError).code).toBe('service_unavailable');
      expect((outcome.error as APIError).message).toContain('the gateway is shutting down');
    }

    // The cancelled requests are settled as aborted, for the tokens they streamed.
    if (refused!.requestId) await settlementOf(refused!.requestId);
    for (const outcome of cut) {
      const details = await settlementOf(outcome.requestId!);
      expect(details).toMatchObject({ status: 'settled', settleStatus: 'aborted' });
      expect(parseAmount(details.cost!)).toBeGreaterThan(0n);
    }

    // The other gateway was never disturbed.
    stuck.open();
    const other = await outcomesOf(onGateway2);
    expect(other.map((outcome) => outcome.kind)).toEqual(['complete', 'complete', 'complete']);
  });
});

describe('after both shutdowns', () => {
  it('burned every request at most once, exactly what the clients were told, with no hold left and nothing queued', async () => {
    const audit = await auditLedger(
      ps.billing,
      users.map((user) => user.userId),
    );
    expect(audit.verify.ok).toBe(true);
    expect(audit.openHolds).toBe(0);
    for (const [requestId, costs] of audit.burns) {
      expect(costs, requestId).toHaveLength(1);
    }

    const complete = outcomes.filter((outcome) => outcome.kind === 'complete');
    for (const outcome of complete) expect(audit.burns.has(outcome.requestId)).toBe(true);
    const aborted = outcomes.filter((outcome) => outcome.kind === 'error' && outcome.requestId);
    expect(audit.burns.size).toBe(complete.length + aborted.length);
    const told = complete.reduce((sum, outcome) => sum + parseAmount(outcome.cost), 0n);
    const abortedCost = [...audit.burns]
      .filter(([requestId]) => aborted.some((outcome) => outcome.requestId === requestId))
      .reduce((sum, [, costs]) => sum + costs[0]!, 0n);
    expect(audit.burned).toBe(told + abortedCost);

    const redis = new Redis(ps.env.REDIS_URL!);
    const queue = new Queue(INFERENCE_QUEUE, {
      connection: redis,
      prefix: redisKeys(ps.env.QUEUE_PREFIX!).bullPrefix,
    });
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
    await queue.close();
    redis.disconnect();
    expect(counts).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0 });
  });
});

/** The request's billing record, once the remaining worker says it settled it. */
async function settlementOf(requestId: string) {
  await waitForLog(
    worker2,
    (entry) => entry.msg === 'request settled' && entry.requestId === requestId,
  );
  for (const { userId } of users) {
    const details = await ps.billing.request.query({ requestId, userId }).catch(() => null);
    if (details) return details;
  }
  throw new Error(`no billing record for ${requestId}`);
}
