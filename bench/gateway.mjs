// End-to-end benchmark: the same model called (a) directly on a loopback OpenAI-compatible
// server and (b) through creditgate's /v1/chat/completions (authenticate, authorize and hold,
// queue, worker, settle), interleaved in one run so machine noise hits both. Non-streaming and
// streaming at several concurrencies; then the same load with a second gateway and more workers.
// Afterwards the ledger must be exact: burns = completed requests x the unit cost.
//
//   npm run bench:gateway                      (builds first)
//   BENCH_SECONDS=5                            seconds per target per scenario (split in 2 rounds)
//   BENCH_LEVELS=1,16,64 BENCH_MODES=nonstream,stream
//   BENCH_FIRST_TOKEN_MS=0 BENCH_CHUNKS=20 BENCH_CHUNK_INTERVAL_MS=0   the upstream's answer
//   BENCH_LOG_LEVEL=warn                       services' LOG_LEVEL (info: a line per request)
//   BENCH_SCALE=0                              skip the second-gateway / three-worker runs
//   BENCH_CPU_PROF=1                           --cpu-prof every service; see bench/profile-summary.mjs
//
// Writes bench/results/gateway.json and prints a table.

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { costOf, formatAmount, parseAmount, ZERO_USAGE } from '@creditgate/contracts';
import { DEFAULT_PG, DEFAULT_REDIS, loadCatalog } from '@creditgate/runtime';
import { createTRPCClient, httpLink } from '@trpc/client';
import { diffCounts, openRedis, pgTransactions, redisCounters } from './lib/backends.mjs';
import { percentile, round, runLoad } from './lib/load.mjs';
import { cpuMs, loadAverage, peakRssMb, pidsNamed, resetPeakRss } from './lib/procstat.mjs';
import { BenchStack, clearRedisPrefix, recreateDatabases, ROOT } from './lib/stack.mjs';
import { printTables } from './lib/table.mjs';

const env = process.env;
const config = {
  secondsPerTarget: Number(env.BENCH_SECONDS ?? 5),
  rounds: 2,
  levels: (env.BENCH_LEVELS ?? '1,16,64').split(',').map(Number),
  modes: (env.BENCH_MODES ?? 'nonstream,stream').split(','),
  upstream: {
    firstTokenMs: Number(env.BENCH_FIRST_TOKEN_MS ?? 0),
    chunks: Number(env.BENCH_CHUNKS ?? 20),
    chunkIntervalMs: Number(env.BENCH_CHUNK_INTERVAL_MS ?? 0),
  },
  logLevel: env.BENCH_LOG_LEVEL ?? 'warn',
  scale: env.BENCH_SCALE !== '0',
  scaleLevels: [16, 64],
  profile: env.BENCH_CPU_PROF === '1',
  model: 'gpt-4o-mini',
  promptTokens: 12,
  grant: '1000000',
};

const RESULTS = path.join(ROOT, 'bench/results/gateway.json');
const WARM_UP_SECONDS = 3;
const IDLE_SECONDS = 10;
const PROFILE_DIR = path.join(ROOT, 'bench/results/profiles');
const ADMIN_URL = env.BENCH_DATABASE_URL ?? `${DEFAULT_PG}/postgres`;
// Billing's own benchmark (bench:billing) recreates `creditgate_bench_billing`; this one keeps
// clear of it so the two can run on the same machine.
const DATABASES = {
  gateway: 'creditgate_bench_gateway',
  billing: 'creditgate_bench_gateway_billing',
};
const QUEUE_PREFIX = 'creditgate-bench-gateway';

const requestBody = (stream) =>
  JSON.stringify({
    model: config.model,
    messages: [{ role: 'user', content: 'Count from one to twenty.' }],
    max_tokens: 64,
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  });
const verifyBody = (stream) =>
  stream ? (body) => body.endsWith('data: [DONE]\n\n') : (body) => body.includes('"choices"');

/** Sums CPU ms over a set of pids, by label. */
function cpuSnapshot(groups) {
  const out = {};
  for (const [label, pids] of Object.entries(groups)) {
    out[label] = pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
  }
  return out;
}

function emptyTotals() {
  return { completed: 0, non2xx: 0, errors: 0, timeouts: 0, mismatches: 0, elapsedMs: 0 };
}

function summarize(totals, latencies, ttfbs, stream) {
  return {
    requests: totals.completed,
    requestsPerSecond: round(totals.completed / (totals.elapsedMs / 1000), 1),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    ...(stream
      ? { ttfbP50Ms: round(percentile(ttfbs, 50)), ttfbP99Ms: round(percentile(ttfbs, 99)) }
      : {}),
    errors: totals.non2xx + totals.errors + totals.mismatches,
    ...(totals.non2xx + totals.errors + totals.mismatches > 0
      ? {
          errorDetail: { non2xx: totals.non2xx, socket: totals.errors, badBody: totals.mismatches },
        }
      : {}),
  };
}

async function main() {
  const startedAt = new Date();
  const loadBefore = loadAverage();
  const logDir = path.join(os.tmpdir(), `creditgate-bench-gateway-${process.pid}`);
  if (config.profile) mkdirSync(PROFILE_DIR, { recursive: true });

  console.log(`load average before: ${loadBefore.join(' ')}; service logs in ${logDir}`);
  await recreateDatabases(ADMIN_URL, Object.values(DATABASES));
  await clearRedisPrefix(env.REDIS_URL ?? DEFAULT_REDIS, QUEUE_PREFIX);

  const stack = new BenchStack({
    adminUrl: ADMIN_URL,
    redisUrl: env.REDIS_URL ?? DEFAULT_REDIS,
    queuePrefix: QUEUE_PREFIX,
    databases: DATABASES,
    logLevel: config.logLevel,
    logDir,
    profileDir: config.profile ? PROFILE_DIR : undefined,
  });

  let report;
  try {
    report = await runBenchmark(stack);
  } finally {
    await stack.stopAll();
    await clearRedisPrefix(env.REDIS_URL ?? DEFAULT_REDIS, QUEUE_PREFIX).catch(() => undefined);
  }

  report.date = startedAt.toISOString();
  report.loadAverage = { before: loadBefore, after: loadAverage() };
  mkdirSync(path.dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  printTables(report);
  console.log(`\nwritten to ${path.relative(process.cwd(), RESULTS)}`);
  if (!report.ledger.exact || !report.ledger.verified) process.exitCode = 1;
}

async function runBenchmark(stack) {
  const upstream = await stack.startUpstream(config.upstream);
  const billing = await stack.startBilling();
  const workers = [await stack.startWorker('inference')];
  const gateways = [await stack.startGateway('gateway')];

  const { userId, apiKey } = await stack.cli('user:create', { name: 'bench' });
  await stack.cli('grant:mint', { user: userId, amount: config.grant });

  // The unit cost from the catalog, and the one request the gateway reports, must agree.
  const prices = loadCatalog().byId.get(config.model).prices;
  const unitCost = costOf(prices, {
    ...ZERO_USAGE,
    input: config.promptTokens,
    output: config.upstream.chunks,
  });
  let gatewayCompleted = 0;
  const calibration = await fetch(`${gateways[0].url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: requestBody(false),
  });
  const calibrated = await calibration.json();
  if (!calibration.ok) throw new Error(`calibration request failed: ${JSON.stringify(calibrated)}`);
  gatewayCompleted += 1;
  if (parseAmount(calibrated.usage.cost) !== unitCost) {
    throw new Error(
      `gateway reports cost ${calibrated.usage.cost}, catalog says ${formatAmount(unitCost)}`,
    );
  }

  const targets = () => ({
    direct: {
      url: `${upstream.url}/v1/chat/completions`,
      headers: { authorization: 'Bearer sk-bench-upstream-key' },
    },
    gateway: {
      url: gateways.map((g) => `${g.url}/v1/chat/completions`),
      headers: { authorization: `Bearer ${apiKey}` },
    },
  });

  const processGroups = () => ({
    gateway: gateways.map((g) => g.pid),
    billing: [billing.pid],
    inference: workers.map((w) => w.pid),
    upstream: [upstream.pid],
    loadgen: [process.pid],
    postgres: pidsNamed('postgres'),
    redis: pidsNamed('redis-server'),
  });
  const ours = () => [...gateways, billing, ...workers, upstream];
  const redis = openRedis(stack.env.REDIS_URL);

  /**
   * One scenario: `rounds` alternating slices of direct and gateway load at one concurrency.
   * Per target: latencies over all its slices, its requests over its active time, and the CPU
   * each process spent during its slices.
   */
  async function scenario(stream, connections, secondsPerTarget, names = ['direct', 'gateway']) {
    const body = requestBody(stream);
    const verify = verifyBody(stream);
    const perTarget = {};
    for (const name of names) {
      perTarget[name] = { totals: emptyTotals(), latencies: [], ttfbs: [], cpu: {}, redis: {} };
    }
    for (const service of ours()) resetPeakRss(service.pid);

    for (let r = 0; r < config.rounds; r++) {
      for (const name of names) {
        const target = targets()[name];
        const groups = processGroups();
        const redisBefore = await redisCounters(redis);
        const before = cpuSnapshot(groups);
        const slice = await runLoad({
          url: target.url,
          headers: target.headers,
          body,
          connections,
          seconds: secondsPerTarget / config.rounds,
          verify,
        });
        const after = cpuSnapshot(groups);
        const redisCalls = diffCounts(redisBefore, await redisCounters(redis));

        const acc = perTarget[name];
        for (const key of Object.keys(acc.totals)) acc.totals[key] += slice[key];
        // Not push(...spread): a slice at high concurrency holds more samples than the stack
        // has room for arguments.
        for (const ms of slice.latencies) acc.latencies.push(ms);
        for (const ms of slice.ttfbs) acc.ttfbs.push(ms);
        for (const label of Object.keys(before)) {
          acc.cpu[label] = (acc.cpu[label] ?? 0) + (after[label] - before[label]);
        }
        for (const [command, calls] of Object.entries(redisCalls)) {
          acc.redis[command] = (acc.redis[command] ?? 0) + calls;
        }
        if (name === 'gateway') gatewayCompleted += slice.completed;
      }
    }

    const out = { mode: stream ? 'stream' : 'nonstream', concurrency: connections };
    for (const name of names) {
      const acc = perTarget[name];
      out[name] = summarize(acc.totals, acc.latencies, acc.ttfbs, stream);
      const perRequest = (value) => round(value / Math.max(1, acc.totals.completed), 3);
      out[name].cpuMsPerRequest = Object.fromEntries(
        Object.entries(acc.cpu).map(([label, ms]) => [label, perRequest(ms)]),
      );
      // Server-wide counts: the bench's own INFO calls and any other client are included.
      const { '(connections)': connections = 0, ...commands } = acc.redis;
      out[name].redisConnectionsPerRequest = perRequest(connections);
      const byCommand = Object.entries(commands).sort((a, b) => b[1] - a[1]);
      out[name].redisCommandsPerRequest = {
        total: perRequest(byCommand.reduce((sum, [, calls]) => sum + calls, 0)),
        ...Object.fromEntries(
          byCommand.slice(0, 20).map(([cmd, calls]) => [cmd, perRequest(calls)]),
        ),
      };
    }
    if (out.direct && out.gateway) {
      out.added = {
        p50Ms: round(out.gateway.p50Ms - out.direct.p50Ms),
        p99Ms: round(out.gateway.p99Ms - out.direct.p99Ms),
        ...(stream ? { ttfbP50Ms: round(out.gateway.ttfbP50Ms - out.direct.ttfbP50Ms) } : {}),
      };
    }
    out.peakRssMb = Object.fromEntries(ours().map((s) => [s.name, peakRssMb(s.pid)]));
    // Other work on the machine moves every figure; each scenario says how busy it was.
    out.loadAverage1m = loadAverage()[0];
    return out;
  }

  // Warm-up (JIT, connection pools, Prisma's query plans); counted in the ledger, not reported.
  // Long enough for V8 to finish optimising the hot paths: with one second, the first scenario
  // still paid for compilation (the compiler threads' CPU counts as the process's) and showed
  // half again the CPU per request of the same scenario run later.
  console.log('warming up');
  for (const stream of [false, true]) await scenario(stream, 16, WARM_UP_SECONDS);

  // What each process spends with no request at all (timers, queue polling, heartbeats): at low
  // request rates it is a visible share of the CPU per request.
  // /proc counts CPU in 10 ms ticks: the window must be long for a figure of a few ms/s.
  const idleBefore = cpuSnapshot(processGroups());
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  const idleAfter = cpuSnapshot(processGroups());
  const idleCpuMsPerSecond = Object.fromEntries(
    ['gateway', 'billing', 'inference'].map((k) => [
      k,
      round((idleAfter[k] - idleBefore[k]) / IDLE_SECONDS, 1),
    ]),
  );

  // Profiles are cut to this window (startup and warm-up left out): see profile-summary.mjs.
  const loadStartedUs = process.hrtime.bigint() / 1000n;
  const pgBefore = await pgTransactions(ADMIN_URL, Object.values(DATABASES));
  const completedBefore = gatewayCompleted;
  const scenarios = [];
  for (const mode of config.modes) {
    for (const concurrency of config.levels) {
      const stream = mode === 'stream';
      process.stdout.write(`${mode} c=${concurrency} ... `);
      const result = await scenario(stream, concurrency, config.secondsPerTarget);
      scenarios.push(result);
      console.log(
        `direct ${result.direct.requestsPerSecond} req/s, gateway ${result.gateway.requestsPerSecond} req/s, ` +
          `added p50 ${result.added.p50Ms} ms${stream ? `, added TTFB ${result.added.ttfbP50Ms} ms` : ''}, ` +
          `errors ${result.gateway.errors}`,
      );
    }
  }

  // Scale: the same machine with a second gateway process and with three worker processes.
  const scale = [];
  if (config.scale) {
    const measure = async (label) => {
      for (const concurrency of config.scaleLevels) {
        process.stdout.write(`scale ${label} nonstream c=${concurrency} ... `);
        const result = await scenario(false, concurrency, 4, ['gateway']);
        scale.push({ setup: label, gateways: gateways.length, workers: workers.length, ...result });
        console.log(`${result.gateway.requestsPerSecond} req/s, errors ${result.gateway.errors}`);
      }
    };
    await measure('1 gateway, 1 worker');
    gateways.push(await stack.startGateway('gateway2'));
    await measure('2 gateways, 1 worker');
    workers.push(await stack.startWorker('inference2'), await stack.startWorker('inference3'));
    await measure('2 gateways, 3 workers');
    await stack.stopProcess(gateways.pop());
    await measure('1 gateway, 3 workers');
  }

  if (config.profile) {
    const window = {
      startUs: String(loadStartedUs),
      endUs: String(process.hrtime.bigint() / 1000n),
    };
    writeFileSync(path.join(PROFILE_DIR, 'window.json'), `${JSON.stringify(window)}\n`);
  }

  // Postgres publishes its counters about once a second.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const pgAfter = await pgTransactions(ADMIN_URL, Object.values(DATABASES));
  const measured = Math.max(1, gatewayCompleted - completedBefore);
  const pgTransactionsPerRequest = Object.fromEntries(
    Object.entries(DATABASES).map(([service, db]) => [
      service,
      round((pgAfter[db] - pgBefore[db]) / measured, 2),
    ]),
  );
  redis.disconnect();

  const ledger = await checkLedger(stack, billing, userId, unitCost, gatewayCompleted);
  return {
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    setup: {
      description:
        'loopback OpenAI-compatible server in its own process; billing, inference and gateway as ' +
        'production processes (NODE_ENV=production) on local Postgres and Redis; autocannon in the ' +
        'bench process; direct and gateway slices alternate within each scenario',
      model: config.model,
      secondsPerTarget: config.secondsPerTarget,
      rounds: config.rounds,
      upstream: config.upstream,
      logLevel: config.logLevel,
      unitCost: formatAmount(unitCost),
    },
    idleCpuMsPerSecond,
    scenarios,
    scale,
    pgTransactionsPerRequest,
    ledger,
  };
}

/** Burns must equal completed requests x unit cost, with no hold left and billing's proof ok. */
async function checkLedger(stack, billing, userId, unitCost, completed) {
  let balance;
  for (let attempt = 0; attempt < 20; attempt++) {
    balance = await stack.cli('balance', { user: userId });
    if (parseAmount(balance.held.credit ?? '0') === 0n) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const burned = parseAmount(config.grant) - parseAmount(balance.totals.credit ?? '0');
  const expected = unitCost * BigInt(completed);

  const client = createTRPCClient({
    links: [
      httpLink({
        url: `${billing.url}/trpc`,
        headers: { 'x-service-token': stack.env.SERVICE_TOKEN },
      }),
    ],
  });
  const verification = await client.verify.query();

  return {
    completedRequests: completed,
    unitCost: formatAmount(unitCost),
    burned: formatAmount(burned),
    expected: formatAmount(expected),
    heldAfter: balance.held.credit ?? '0',
    exact: burned === expected,
    verified: verification.ok,
    entries: verification.entries,
  };
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
