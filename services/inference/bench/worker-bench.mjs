// Worker throughput benchmark: completed streamed jobs per second at worker concurrency 1, 10
// and 50 against a loopback server streaming 50 chunks, and memory per concurrent stream.
// Runs the built worker (services/inference/dist/main.js) as its own process, real billing on a
// fresh database, Redis under a throwaway prefix (both removed afterwards).
//
//   npm run bench:worker                      (builds first)
//   BENCH_LEVELS=50 node services/inference/bench/worker-bench.mjs
//   BENCH_WORKER_LOG_LEVEL=info ...           worker request lines, with their timings
//   BENCH_WORKER_NODE_ARGS=--cpu-prof ...     profile the worker
//
// Prints a table and writes bench/results/worker.json.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBillingEnv, startBilling } from '@creditgate/billing';
import { INFERENCE_QUEUE, newId, redisKeys } from '@creditgate/contracts';
import { DEFAULT_PG, DEFAULT_REDIS, ensureDatabase, migrateDatabase } from '@creditgate/runtime';
import { createTRPCClient, httpLink } from '@trpc/client';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const WORKER_MAIN = path.join(ROOT, 'services/inference/dist/main.js');
const RESULTS = path.join(ROOT, 'bench/results/worker.json');

const CHUNKS = 50;
const LEVELS = (process.env.BENCH_LEVELS ?? '1,10,50').split(',').map(Number);
const jobsAt = (concurrency) => Math.max(300, concurrency * 60);
const MEMORY_CONCURRENCY = 50;
const MEMORY_CHUNK_INTERVAL_MS = 60;

const SERVICE_TOKEN = 'bench-service-token-0123456789';
const ENCRYPTION_KEY = randomBytes(32).toString('base64');
const PG_ADMIN = process.env.BENCH_DATABASE_URL ?? `${DEFAULT_PG}/postgres`;
const REDIS_URL = process.env.REDIS_URL ?? DEFAULT_REDIS;

/** A loopback OpenAI-compatible server: 50 content chunks, a usage chunk, [DONE]. */
function startUpstream() {
  const frame = (delta, finish = null) =>
    `data: ${JSON.stringify({
      id: 'chatcmpl-bench',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'bench',
      choices: [{ index: 0, delta, finish_reason: finish }],
    })}\n\n`;
  const body = [frame({ role: 'assistant', content: '' })];
  for (let i = 0; i < CHUNKS - 2; i++) body.push(frame({ content: ` token${i}` }));
  body.push(frame({}, 'stop'));
  body.push(
    `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench', choices: [], usage: { prompt_tokens: 20, completion_tokens: CHUNKS, total_tokens: 20 + CHUNKS } })}\n\n`,
    'data: [DONE]\n\n',
  );

  const server = createServer(async (req, res) => {
    for await (const _ of req);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const paced = req.url.startsWith('/paced/');
    for (const part of body) {
      res.write(part);
      if (paced) await new Promise((resolve) => setTimeout(resolve, MEMORY_CHUNK_INTERVAL_MS));
    }
    res.end();
  });
  server.keepAliveTimeout = 60_000;
  server.connectionsOpened = 0;
  server.on('connection', () => (server.connectionsOpened += 1));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function freePort() {
  const server = createServer();
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    }),
  );
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function metric(port, name) {
  const text = await (
    await fetch(`http://127.0.0.1:${port}/metrics`, {
      headers: { 'x-service-token': SERVICE_TOKEN },
    })
  ).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

async function main() {
  const runId = randomBytes(4).toString('hex');
  const dbName = `creditgate_bench_worker_${runId}`;
  const dbUrl = new URL(PG_ADMIN);
  dbUrl.pathname = `/${dbName}`;
  await ensureDatabase(dbUrl.toString());
  await migrateDatabase(
    path.join(ROOT, 'services/billing'),
    'BILLING_DATABASE_URL',
    dbUrl.toString(),
  );

  const billing = await startBilling(
    loadBillingEnv({
      BILLING_PORT: '0',
      BILLING_HOST: '127.0.0.1',
      BILLING_DATABASE_URL: dbUrl.toString(),
      SERVICE_TOKEN,
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    }),
  );
  const billingUrl = `http://127.0.0.1:${billing.port}`;
  const billingClient = createTRPCClient({
    links: [httpLink({ url: `${billingUrl}/trpc`, headers: { 'x-service-token': SERVICE_TOKEN } })],
  });

  const upstream = await startUpstream();
  const upstreamUrl = `http://127.0.0.1:${upstream.address().port}`;
  const prefix = `cgbench:${runId}`;
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(INFERENCE_QUEUE, { connection, prefix: redisKeys(prefix).bullPrefix });
  const queueEvents = new QueueEvents(INFERENCE_QUEUE, {
    connection: { url: REDIS_URL },
    prefix: redisKeys(prefix).bullPrefix,
  });
  await queueEvents.waitUntilReady();

  const active = new Map();
  const finished = new Map();
  let onFinished = () => {};
  queueEvents.on('active', ({ jobId }) => active.set(jobId, performance.now()));
  queueEvents.on('completed', ({ jobId, returnvalue }) => {
    finished.set(jobId, {
      at: performance.now(),
      outcome: (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue)?.outcome,
    });
    onFinished();
  });
  queueEvents.on('failed', ({ jobId }) => {
    finished.set(jobId, { at: performance.now(), outcome: 'failed' });
    onFinished();
  });

  /** Authorizes and enqueues `count` custom endpoint jobs (authorization is not timed). */
  async function enqueue(count, basePath) {
    const jobs = [];
    for (let i = 0; i < count; i++) {
      const requestId = newId('request');
      const decision = await billingClient.authorize.mutate({
        requestId,
        userId: 'usr_bench',
        modelId: 'mdl_bench',
        routeClass: 'custom_endpoint',
        promptTokens: 20,
        maxOutputTokens: 100,
      });
      jobs.push({
        name: 'chat',
        opts: { jobId: requestId },
        data: {
          requestId,
          userId: 'usr_bench',
          modelId: 'mdl_bench',
          route: {
            kind: 'custom_endpoint',
            baseUrl: `${upstreamUrl}${basePath}`,
            providerModelId: 'bench',
            sealedApiKey: null,
          },
          decision,
          params: { messages: [{ role: 'user', content: 'Count to fifty.' }], max_tokens: 100 },
          stream: true,
          includeUsage: true,
          createdAt: Date.now(),
        },
      });
    }
    for (let i = 0; i < jobs.length; i += 500) await queue.addBulk(jobs.slice(i, i + 500));
    return jobs.map((job) => job.opts.jobId);
  }

  async function startWorker(concurrency, port) {
    // For example BENCH_WORKER_NODE_ARGS=--cpu-prof to profile the worker.
    const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, WORKER_MAIN], {
      env: {
        PATH: process.env.PATH,
        INFERENCE_PORT: String(port),
        INFERENCE_HOST: '127.0.0.1',
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        BILLING_URL: billingUrl,
        SERVICE_TOKEN,
        ENCRYPTION_KEY,
        WORKER_CONCURRENCY: String(concurrency),
        CUSTOM_ENDPOINT_ALLOW: '127.0.0.1',
        LOG_LEVEL: process.env.BENCH_WORKER_LOG_LEVEL ?? 'warn',
        NODE_ENV: 'production',
      },
      // BENCH_WORKER_LOG_LEVEL=info shows the worker's per-request lines (timings included).
      stdio: ['ignore', process.env.BENCH_WORKER_LOG_LEVEL ? 'inherit' : 'ignore', 'inherit'],
    });
    for (;;) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return child;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function stopWorker(child) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  function waitFor(ids) {
    return new Promise((resolve) => {
      const check = () => {
        if (ids.every((id) => finished.has(id))) resolve();
      };
      onFinished = check;
      check();
    });
  }

  const results = [];
  for (const concurrency of LEVELS) {
    const count = jobsAt(concurrency);
    const ids = await enqueue(count, '/v1');
    const port = await freePort();
    const child = await startWorker(concurrency, port);
    const cpuBefore = await metric(port, 'process_cpu_seconds_total');
    const connectionsBefore = upstream.connectionsOpened;
    await waitFor(ids);
    const cpuSeconds = (await metric(port, 'process_cpu_seconds_total')) - cpuBefore;

    const starts = ids.map((id) => active.get(id)).filter((t) => t !== undefined);
    const ends = ids.map((id) => finished.get(id).at);
    const seconds =
      (ends.reduce((a, b) => Math.max(a, b)) - starts.reduce((a, b) => Math.min(a, b))) / 1000;
    const durations = ids
      .map((id) => finished.get(id).at - (active.get(id) ?? finished.get(id).at))
      .sort((a, b) => a - b);
    const outcomes = {};
    for (const id of ids)
      outcomes[finished.get(id).outcome] = (outcomes[finished.get(id).outcome] ?? 0) + 1;
    const rss = await metric(port, 'process_resident_memory_bytes');
    const jobSeconds = await metric(port, 'inference_job_duration_seconds_sum');
    const jobCount = await metric(port, 'inference_job_duration_seconds_count');
    await stopWorker(child);

    results.push({
      concurrency,
      jobs: count,
      seconds: Number(seconds.toFixed(3)),
      jobsPerSecond: Number((count / seconds).toFixed(1)),
      chunksPerSecond: Math.round((count * CHUNKS) / seconds),
      jobP50Ms: Number(percentile(durations, 50).toFixed(1)),
      jobP99Ms: Number(percentile(durations, 99).toFixed(1)),
      // Time inside the processor (upstream stream + settle), as the worker's histogram saw it.
      processorMeanMs: Number(((jobSeconds / jobCount) * 1000).toFixed(1)),
      // The worker process's own CPU per completed job (user + system), whatever else runs.
      workerCpuMsPerJob: Number(((cpuSeconds * 1000) / count).toFixed(2)),
      workerRssMb: Number((rss / 2 ** 20).toFixed(1)),
      upstreamConnections: upstream.connectionsOpened - connectionsBefore,
      outcomes,
    });
  }

  // Memory: the same worker idle (after a warm-up), then holding 50 paced streams open at once.
  const port = await freePort();
  const child = await startWorker(MEMORY_CONCURRENCY, port);
  await waitFor(await enqueue(MEMORY_CONCURRENCY, '/v1'));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const idle = {
    rss: await metric(port, 'process_resident_memory_bytes'),
    heap: await metric(port, 'nodejs_heap_size_used_bytes'),
  };

  const pacedIds = await enqueue(MEMORY_CONCURRENCY * 3, '/paced/v1');
  const samples = [];
  const done = waitFor(pacedIds);
  let finishedAll = false;
  done.then(() => (finishedAll = true));
  while (!finishedAll) {
    const activeJobs = await metric(port, 'inference_active_jobs');
    if (activeJobs === MEMORY_CONCURRENCY) {
      samples.push({
        rss: await metric(port, 'process_resident_memory_bytes'),
        heap: await metric(port, 'nodejs_heap_size_used_bytes'),
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stopWorker(child);
  const mean = (key) => samples.reduce((sum, s) => sum + s[key], 0) / samples.length;
  const memory = {
    concurrentStreams: MEMORY_CONCURRENCY,
    samples: samples.length,
    idleRssMb: Number((idle.rss / 2 ** 20).toFixed(1)),
    activeRssMb: Number((mean('rss') / 2 ** 20).toFixed(1)),
    rssPerStreamKb: Math.round((mean('rss') - idle.rss) / MEMORY_CONCURRENCY / 1024),
    heapPerStreamKb: Math.round((mean('heap') - idle.heap) / MEMORY_CONCURRENCY / 1024),
  };

  const report = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
    setup: `${CHUNKS} chunks per stream from a loopback server; worker as its own process; real billing settle per job on local Postgres; Redis on loopback`,
    throughput: results,
    memory,
  };
  mkdirSync(path.dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`);

  console.log(`\nworker throughput (${CHUNKS} chunks per stream, ${report.machine.cpus} cores)\n`);
  const columns = [
    ['concurrency', 'concurrency'],
    ['jobs', 'jobs'],
    ['jobs/s', 'jobsPerSecond'],
    ['chunks/s', 'chunksPerSecond'],
    ['job p50 ms', 'jobP50Ms'],
    ['job p99 ms', 'jobP99Ms'],
    ['worker CPU ms/job', 'workerCpuMsPerJob'],
    ['worker RSS MB', 'workerRssMb'],
  ];
  console.log(columns.map(([title]) => title).join(' | '));
  console.log(columns.map(([title]) => '-'.repeat(title.length)).join(' | '));
  for (const r of results) {
    console.log(columns.map(([title, key]) => String(r[key]).padStart(title.length)).join(' | '));
  }
  console.log(
    `\nmemory per concurrent stream (${memory.concurrentStreams} open, ${memory.samples} samples): ` +
      `~${memory.heapPerStreamKb} KB heap, ~${memory.rssPerStreamKb} KB RSS ` +
      `(idle RSS ${memory.idleRssMb} MB, active ${memory.activeRssMb} MB)`,
  );
  console.log(`\nwritten to ${path.relative(process.cwd(), RESULTS)}`);

  await queueEvents.close();
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  const keys = await connection.keys(`${prefix}:*`);
  for (let i = 0; i < keys.length; i += 500) await connection.del(...keys.slice(i, i + 500));
  connection.disconnect();
  upstream.close();
  await billing.close();
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await admin.end();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
