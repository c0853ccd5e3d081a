import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './support/fixture-server.js';
import {
  chunksOf,
  contentOf,
  SERVICE_TOKEN,
  startHarness,
  terminalOf,
  type Harness,
} from './support/harness.js';

const MAIN = path.resolve(import.meta.dirname, '../dist/main.js');

/**
 * Settings that make a dead worker's job come back within about two seconds. Every worker of
 * the file uses them: a stalled check by any worker blocks the others' for its own interval.
 */
const FAST_STALL = { WORKER_LOCK_DURATION_MS: '1000', WORKER_STALLED_INTERVAL_MS: '300' };

let h: Harness;
const children: ChildProcess[] = [];

beforeAll(async () => {
  h = await startHarness({ env: FAST_STALL });
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await h?.close();
});

/** The built worker as its own process, exactly as `npm start` runs it. */
function spawnWorker(): ChildProcess {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, ...h.envSource, LOG_LEVEL: 'silent' },
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

async function kill(child: ChildProcess) {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

async function stopInProcessWorkers() {
  for (const worker of h.workers.splice(0)) await worker.close();
}

describe('health, metrics and liveness', () => {
  it('answers the probes, guards /metrics with the service token, and keeps a heartbeat', async () => {
    const worker = h.workers[0]!;
    const url = `http://127.0.0.1:${worker.port}`;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    // The same body as billing's and the gateway's probes.
    expect(await ready.json()).toEqual({ status: 'ready' });
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect(
      (await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer wrong-token-000000' } }))
        .status,
    ).toBe(401);

    const metrics = await fetch(`${url}/metrics`, {
      headers: { 'x-service-token': SERVICE_TOKEN },
    });
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    for (const name of [
      'inference_job_duration_seconds',
      'inference_time_to_first_token_seconds',
      'inference_upstream_errors_total',
      'inference_active_jobs',
      'process_resident_memory_bytes',
    ]) {
      expect(text).toContain(name);
    }

    const heartbeat = h.keys.workerHeartbeat(worker.workerId);
    const ttl = await h.redis.pttl(heartbeat);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(15_000);

    await stopInProcessWorkers();
    expect(await h.redis.exists(heartbeat)).toBe(0);
  });
});

describe('a worker killed mid-job', () => {
  it('never re-runs a request that already streamed: error event and exactly one aborted settle', async () => {
    await stopInProcessWorkers();
    const base = h.fixtures.scenario('killed', {
      kind: 'sse',
      body: fixture('openai.sse'),
      holdAfter: 3,
      release: new Promise(() => {}),
    });
    const child = spawnWorker();
    const job = await h.submit({ route: h.customRoute(`${base}/v1`), modelId: 'mdl_killed' });
    await h.events(job.requestId, (events) => events.filter((e) => e.type === 'chunk').length >= 3);

    await kill(child);
    await h.startWorker();

    const events = await h.events(job.requestId);
    expect(chunksOf(events)).toHaveLength(3);
    expect(terminalOf(events)).toEqual({
      type: 'error',
      code: 'internal_error',
      message: 'the worker running this request stopped before the answer completed',
    });
    expect(h.fixtures.requests('killed')).toHaveLength(1);

    const settles = h.proxy.of('settle', job.requestId);
    expect(settles).toHaveLength(1);
    expect(settles[0]!.input).toMatchObject({
      status: 'aborted',
      usageEstimated: true,
      usage: { output: 2 },
    });
    expect(settles[0]!.status).toBe(200);
  });

  it('settles a request whose worker died after answering and before billing heard of it', async () => {
    await stopInProcessWorkers();
    const base = h.fixtures.scenario('answered-then-killed', {
      kind: 'sse',
      body: fixture('openai.sse'),
    });
    const settleHeld = h.proxy.hold('settle');
    const child = spawnWorker();
    const job = await h.submit({ route: h.customRoute(`${base}/v1`), modelId: 'mdl_answered' });
    const events = await h.events(job.requestId, (read) => read.some((e) => e.type !== 'chunk'));
    await settleHeld;

    await kill(child);
    h.proxy.resume();
    expect(h.proxy.of('settle', job.requestId)).toHaveLength(0);
    await h.startWorker();
    await h.jobFinished(job.requestId);

    const end = terminalOf(events);
    expect(end).toMatchObject({ type: 'end', finishReason: 'stop' });
    const settles = h.proxy.of('settle', job.requestId);
    expect(settles).toHaveLength(1);
    expect(settles[0]!.input).toMatchObject({
      status: 'complete',
      usage: end.type === 'end' ? end.usage : null,
    });
    expect(settles[0]!.status).toBe(200);
    expect(h.fixtures.requests('answered-then-killed')).toHaveLength(1);
  });

  it('runs a request again when its worker died before the first token', async () => {
    await stopInProcessWorkers();
    const base = h.fixtures.scenario(
      'killed-early',
      { kind: 'silent' },
      { kind: 'sse', body: fixture('openai.sse') },
    );
    const child = spawnWorker();
    const job = await h.submit({ route: h.customRoute(`${base}/v1`), modelId: 'mdl_killed_early' });
    await h.fixtures.requested('killed-early', 1);

    await kill(child);
    await h.startWorker();

    const events = await h.events(job.requestId);
    expect(terminalOf(events)).toMatchObject({ type: 'end', finishReason: 'stop' });
    expect(contentOf(events)).toBe('The capital of France is Paris.');
    expect(h.fixtures.requests('killed-early')).toHaveLength(2);
    expect(h.proxy.of('settle', job.requestId)).toHaveLength(1);
  });
});

describe('graceful shutdown', () => {
  it('lets the grace period run, then aborts active jobs and settles them as aborted', async () => {
    await stopInProcessWorkers();
    const worker = await h.startWorker({ SHUTDOWN_GRACE_MS: '300' });
    const base = h.fixtures.scenario('shutdown', {
      kind: 'sse',
      body: fixture('openai.sse'),
      holdAfter: 2,
      release: new Promise(() => {}),
    });
    const job = await h.submit({ route: h.customRoute(`${base}/v1`), modelId: 'mdl_shutdown' });
    await h.events(job.requestId, (events) => events.some((e) => e.type === 'chunk'));

    await worker.close();
    const events = await h.events(job.requestId);
    expect(terminalOf(events)).toEqual({
      type: 'error',
      code: 'internal_error',
      message: 'the worker shut down before the answer completed',
    });
    expect(h.proxy.of('settle', job.requestId)[0]!.input).toMatchObject({ status: 'aborted' });
    await h.fixtures.disconnected('shutdown');
  });

  it('hands a job that streamed nothing back to the queue at once; another worker runs it', async () => {
    await stopInProcessWorkers();
    const leaving = await h.startWorker({ SHUTDOWN_GRACE_MS: '60000' });
    const base = h.fixtures.scenario(
      'handback',
      { kind: 'silent' },
      { kind: 'sse', body: fixture('openai.sse') },
    );
    const job = await h.submit({ route: h.customRoute(`${base}/v1`), modelId: 'mdl_handback' });
    await h.fixtures.requested('handback', 1);

    // The grace period is a minute: closing returns long before it only if the job was handed
    // back rather than waited for.
    await leaving.close();
    expect(await h.queue.getJobState(job.requestId)).toBe('waiting');
    expect(h.proxy.of('settle', job.requestId)).toHaveLength(0);
    expect(h.proxy.of('void', job.requestId)).toHaveLength(0);
    await h.fixtures.disconnected('handback');

    await h.startWorker();
    const events = await h.events(job.requestId);
    expect(terminalOf(events)).toMatchObject({ type: 'end', finishReason: 'stop' });
    expect(contentOf(events)).toBe('The capital of France is Paris.');
    expect(h.fixtures.requests('handback')).toHaveLength(2);
    const settles = h.proxy.of('settle', job.requestId);
    expect(settles).toHaveLength(1);
    expect(settles[0]!.input).toMatchObject({ status: 'complete' });
  });

  it('lets a job that finishes within the grace period complete', async () => {
    await stopInProcessWorkers();
    const worker = await h.startWorker({ SHUTDOWN_GRACE_MS: '10000' });
    const gate: { open?: () => void } = {};
    const release = new Promise<void>((resolve) => (gate.open = resolve));
    const base = h.fixtures.scenario('drain', {
      kind: 'sse',
      body: fixture('openai.sse'),
      holdAfter: 2,
      release,
    });
    const job = await h.submit({ route: h.customRoute(`${base}/v1`), modelId: 'mdl_drain' });
    await h.events(job.requestId, (events) => events.some((e) => e.type === 'chunk'));

    const closed = worker.close();
    gate.open!();
    await closed;
    expect(terminalOf(await h.events(job.requestId))).toMatchObject({
      type: 'end',
      finishReason: 'stop',
    });
  });
});
