import { INFERENCE_QUEUE, newId } from '@creditgate/contracts';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './support/fixture-server.js';
import { PLATFORM_KEYS, startHarness, terminalOf, type Harness } from './support/harness.js';

const ENDPOINT_KEY = 'sk-distinctive-endpoint-SECRET-9f8e7d6c';
const BYO_KEY = 'sk-distinctive-byo-SECRET-1a2b3c4d';

let h: Harness;
let queueEvents: QueueEvents;
beforeAll(async () => {
  h = await startHarness();
  queueEvents = new QueueEvents(INFERENCE_QUEUE, {
    connection: { url: h.redisUrl },
    prefix: h.keys.bullPrefix,
  });
  await queueEvents.waitUntilReady();
});
afterAll(async () => {
  await queueEvents?.close();
  await h?.close();
});

/** Every value under this file's Redis prefix, whatever its type. */
async function dumpRedis(): Promise<string> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await h.redis.scan(cursor, 'MATCH', `${h.prefix}*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      out.push(key);
      switch (await h.redis.type(key)) {
        case 'string':
          out.push(String(await h.redis.get(key)));
          break;
        case 'hash':
          out.push(JSON.stringify(await h.redis.hgetall(key)));
          break;
        case 'list':
          out.push(JSON.stringify(await h.redis.lrange(key, 0, -1)));
          break;
        case 'set':
          out.push(JSON.stringify(await h.redis.smembers(key)));
          break;
        case 'zset':
          out.push(JSON.stringify(await h.redis.zrange(key, 0, -1)));
          break;
        case 'stream':
          out.push(JSON.stringify(await h.redis.xrange(key, '-', '+')));
          break;
      }
    }
  } while (cursor !== '0');
  return out.join('\n');
}

describe('secrets after the job', () => {
  it('leave no key, sealed or plain, in any Redis value, log line or error message', async () => {
    const ok = h.fixtures.scenario('ok', { kind: 'sse', body: fixture('openai.sse') });
    // A server that echoes the key back in its error message, as OpenAI's 401 does.
    const echo = h.fixtures.scenario('echo', {
      kind: 'json',
      status: 401,
      body: { error: { message: `Incorrect API key provided: ${ENDPOINT_KEY}` } },
    });
    h.fixtures.scenario('openai', { kind: 'sse', body: fixture('openai.sse') });

    const ids = Array.from({ length: 5 }, () => newId('request'));
    const finished = ids.map(
      (id) =>
        new Promise<void>((resolve) => {
          const done = ({ jobId }: { jobId: string }) => {
            if (jobId !== id) return;
            queueEvents.off('completed', done);
            resolve();
          };
          queueEvents.on('completed', done);
        }),
    );

    const custom = (base: string) => h.customRoute(base, ENDPOINT_KEY);
    const jobs = [
      await h.submit({ requestId: ids[0], route: custom(`${ok}/v1`), modelId: 'mdl_ok' }),
      await h.submit({ requestId: ids[1], route: custom(`${echo}/v1`), modelId: 'mdl_echo' }),
      await h.submit({
        requestId: ids[2],
        route: custom('http://10.9.8.7/v1'),
        modelId: 'mdl_ssrf',
      }),
      await h.submit({
        requestId: ids[3],
        route: custom(`${ok}/v1`),
        modelId: 'mdl_bad',
        decision: { reason: 'balance' },
      }),
      await h.submit({
        requestId: ids[4],
        route: h.platformRoute('openai', 'gpt-4o-mini', BYO_KEY),
        modelId: 'gpt-4o-mini',
        userId: 'usr_byo',
      }),
    ];

    const terminals = [];
    for (const job of jobs) terminals.push(terminalOf(await h.events(job.requestId)));
    await Promise.all(finished);

    expect(terminals.map((t) => t.type)).toEqual(['end', 'error', 'error', 'error', 'end']);
    expect(h.fixtures.requests('echo')[0]!.headers.authorization).toBe(`Bearer ${ENDPOINT_KEY}`);

    const sealed = jobs.flatMap((job) => [
      job.route.kind === 'custom_endpoint' ? job.route.sealedApiKey : job.route.sealedByoKey,
    ]);
    const everything = [await dumpRedis(), ...h.logLines, JSON.stringify(terminals)].join('\n');
    for (const secret of [ENDPOINT_KEY, BYO_KEY, ...Object.values(PLATFORM_KEYS), ...sealed]) {
      expect(everything).not.toContain(secret!);
    }
    // No job payload (prompt, sealed keys) survives its job.
    for (const job of jobs) expect(await h.queue.getJob(job.requestId)).toBeUndefined();
  });
});

describe('a job that fails for good', () => {
  it('keeps neither its prompt nor its sealed key in Redis', async () => {
    const requestId = newId('request');
    const prompt = 'a distinctive private prompt 4f9a2c';
    const failed = new Promise<string>((resolve) =>
      queueEvents.on('failed', ({ jobId, failedReason }) => {
        if (jobId === requestId) resolve(failedReason);
      }),
    );
    // The request's event stream is taken by a value of another type: every write of the
    // worker fails, and the job with it.
    await h.redis.set(h.keys.events(requestId), 'not a stream');
    const base = h.fixtures.scenario('ok-for-failure', {
      kind: 'sse',
      body: fixture('openai.sse'),
    });
    const job = await h.submit({
      requestId,
      route: h.customRoute(`${base}/v1`, ENDPOINT_KEY),
      modelId: 'mdl_failing',
      messages: [{ role: 'user', content: prompt }],
    });
    expect(await failed).toBe('job crashed');

    // The failed job stays for operators, reduced to who, which model and which route.
    const kept = await h.queue.getJob(requestId);
    expect(await kept!.getState()).toBe('failed');
    expect(kept!.data).toEqual({
      requestId,
      userId: job.userId,
      modelId: 'mdl_failing',
      route: { kind: 'custom_endpoint', provider: null, providerModelId: 'served-model' },
      reason: 'custom_endpoint',
      createdAt: job.createdAt,
      redacted: true,
    });
    const dump = await dumpRedis();
    expect(dump).toContain(requestId);
    for (const secret of [
      prompt,
      ENDPOINT_KEY,
      job.route.kind === 'custom_endpoint' ? job.route.sealedApiKey! : '',
    ]) {
      expect(dump).not.toContain(secret);
    }
  });
});
