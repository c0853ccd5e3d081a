/**
 * authorize + settle throughput of the billing service, through the real tRPC client over HTTP,
 * against local Postgres: one hot user and 10,000 spread users, 8 and 32 concurrent callers,
 * with one HTTP exchange per call (httpLink over createServiceFetch), with the links the gateway
 * uses (serviceLinks: alone when idle, batched when calls overlap) and with
 * callers whose concurrent calls are gathered into `authorizeMany` / `settleMany` calls (`many`,
 * over httpLink). Billing runs as its own process (`dist/main.js`) on a fresh database. The same
 * callers also drive a no-op tRPC server (noop-server.ts), the floor set by HTTP and tRPC alone.
 * Prints a table and writes bench/results/billing.json at the repo root.
 *
 * Environment: BENCH_PG_URL (admin URL, default local postgres), BENCH_SECONDS (per scenario,
 * default 8), BENCH_PROFILE=1 (write a CPU profile of the billing process to
 * bench/results/profiles/billing, with the window of measured load it is summarised over),
 * BENCH_ONLY (comma-separated `server:link:users:callers` to run a subset, e.g.
 * `billing:httpLink:hot:32`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BillingRouter } from '@creditgate/billing';
import { createServiceFetch } from '@creditgate/runtime';
import { serviceLinks } from '@creditgate/runtime/service-link';
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import pg from 'pg';

const serviceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const resultsDir = path.resolve(serviceDir, '../../bench/results');
/** CPU profiles and the window of measured load they are cut to (see bench/profile-summary.mjs). */
const profileDir = path.join(resultsDir, 'profiles/billing');
const adminUrl =
  process.env.BENCH_PG_URL ?? 'postgresql://postgres:postgres@127.0.0.1:5432/postgres';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const DATABASE = 'creditgate_bench_billing';
const SERVICE_TOKEN = 'bench-service-token-0123456789';
const USERS = 10_000;
const HOT_USER = 'usr_bench_hot';
const MODEL = 'gpt-4o-mini';
const PROMPT_TOKENS = 500;
const MAX_OUTPUT_TOKENS = 500;
/** Linux reports process CPU time in clock ticks of 1/100 s. */
const TICKS_PER_SECOND = 100;

type Client = TRPCClient<BillingRouter>;
type Inputs = inferRouterInputs<BillingRouter>;
type Outputs = inferRouterOutputs<BillingRouter>;

function databaseUrl(name: string) {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function recreateDatabase() {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${DATABASE}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${DATABASE}"`);
  await admin.end();
}

/** Starts a server script and waits for the JSON line announcing its URL. */
async function startProcess(
  script: string,
  env: Record<string, string>,
  readyMessage: string,
  profile = false,
): Promise<{ child: ChildProcess; url: string }> {
  const execArgv = profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...execArgv, script], {
    cwd: serviceDir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as { msg?: string; url?: string; level?: number };
      if (entry.msg === readyMessage && entry.url) resolve(entry.url);
      // Errors and warnings of the server belong in the benchmark's output.
      if ((entry.level ?? 0) >= 40) process.stderr.write(`${line}\n`);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with code ${String(code)}`)));
  });
  return { child, url };
}

async function stopProcess(child: ChildProcess) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

/** `node dist/main.js`, which migrates the fresh database before it listens. */
function startBillingProcess() {
  return startProcess(
    path.join(serviceDir, 'dist/main.js'),
    {
      BILLING_PORT: '0',
      BILLING_HOST: '127.0.0.1',
      BILLING_DATABASE_URL: databaseUrl(DATABASE),
      SERVICE_TOKEN,
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
    },
    'billing listening',
    Boolean(process.env.BENCH_PROFILE),
  );
}

function processCpuSeconds(pid: number): number {
  // Fields after the command name: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** CPU seconds of every Postgres backend serving the bench database (they outlive scenarios). */
async function postgresCpuSeconds(admin: pg.Client): Promise<number> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = $1',
    [DATABASE],
  );
  let total = 0;
  for (const { pid } of rows) {
    try {
      total += processCpuSeconds(pid);
    } catch {
      // The backend exited between the query and the read.
    }
  }
  return total;
}

/** Busy and total CPU time of the whole machine, to show what else was running. */
function hostCpu() {
  const cpus = os.cpus();
  let busy = 0;
  let total = 0;
  for (const { times } of cpus) {
    busy += times.user + times.nice + times.sys + times.irq;
    total += times.user + times.nice + times.sys + times.irq + times.idle;
  }
  return { busy, total };
}

function seededRandom(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

interface Scenario {
  server: 'billing' | 'noop';
  /** `many`: calls made in the same tick go as one authorizeMany / settleMany call (httpLink). */
  link: 'httpLink' | 'serviceLinks' | 'many';
  users: 'hot' | 'spread';
  concurrency: number;
}

/** The two procedures the benchmark calls, as both servers expose them. */
interface PairClient {
  authorize: { mutate(input: Inputs['authorize']): Promise<Outputs['authorize']> };
  settle: { mutate(input: Inputs['settle']): Promise<Outputs['settle']> };
}

type ItemOutcome<T> =
  { ok: true; value: T } | { ok: false; error: { message: string; appCode?: string } };

/**
 * Gathers the calls made in one turn of the event loop and sends them as one batched call of at
 * most 256 items; each caller gets its own item's answer. What a caller of `authorizeMany` and
 * `settleMany` does.
 */
function gathered<I, O>(send: (items: I[]) => Promise<ItemOutcome<O>[]>) {
  let pending: { item: I; resolve(value: O): void; reject(error: Error): void }[] = [];
  const flush = () => {
    const gathered = pending;
    pending = [];
    for (let start = 0; start < gathered.length; start += 256) {
      const chunk = gathered.slice(start, start + 256);
      send(chunk.map((call) => call.item)).then(
        (outcomes) =>
          chunk.forEach((call, index) => {
            const outcome = outcomes[index]!;
            if (outcome.ok) call.resolve(outcome.value);
            else call.reject(new Error(`${outcome.error.appCode}: ${outcome.error.message}`));
          }),
        (error: Error) => chunk.forEach((call) => call.reject(error)),
      );
    }
  };
  return (item: I) =>
    new Promise<O>((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({ item, resolve, reject });
    });
}

function clientsFor(url: string): Record<Scenario['link'], PairClient> {
  const headers = { 'x-service-token': SERVICE_TOKEN };
  const fetch = createServiceFetch({ timeoutMs: 30_000 });
  const single = createTRPCClient<BillingRouter>({
    links: [httpLink({ url: `${url}/trpc`, headers, fetch })],
  });
  const authorizeMany = gathered((items: Inputs['authorize'][]) =>
    single.authorizeMany.mutate({ items }),
  );
  const settleMany = gathered((items: Inputs['settle'][]) => single.settleMany.mutate({ items }));
  return {
    httpLink: single,
    serviceLinks: serviceClient(url),
    many: {
      authorize: { mutate: (input) => authorizeMany(input) },
      settle: { mutate: (input) => settleMany(input) },
    },
  };
}

/** A client over the links the gateway uses. */
function serviceClient(url: string): Client {
  return createTRPCClient<BillingRouter>({
    links: serviceLinks({
      url,
      serviceToken: SERVICE_TOKEN,
      timeoutMs: 30_000,
      requestIdOf: (op) => (op.input as { requestId?: unknown } | undefined)?.requestId,
    }),
  });
}

let sequence = 0;

/** Callers loop authorize -> settle until time is up; returns per-pair latencies in ms. */
async function drive(client: PairClient, scenario: Scenario, seconds: number, seed: number) {
  const random = seededRandom(seed);
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;

  await Promise.all(
    Array.from({ length: scenario.concurrency }, async () => {
      while (performance.now() < deadline) {
        sequence += 1;
        const requestId = `req_bench_${process.pid}_${sequence}`;
        const userId =
          scenario.users === 'hot' ? HOT_USER : `usr_bench_${Math.floor(random() * USERS)}`;
        const started = performance.now();
        const decision = await client.authorize.mutate({
          requestId,
          userId,
          modelId: MODEL,
          routeClass: 'platform',
          promptTokens: PROMPT_TOKENS,
          maxOutputTokens: MAX_OUTPUT_TOKENS,
        });
        if (decision.decision !== 'approved') throw new Error(`${userId} was denied`);
        await client.settle.mutate({
          requestId,
          usage: { input: PROMPT_TOKENS, output: Math.floor(random() * MAX_OUTPUT_TOKENS) },
          status: 'complete',
        });
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

async function main() {
  const loadAverageBefore = os.loadavg().map((load) => Number(load.toFixed(2)));
  mkdirSync(resultsDir, { recursive: true });
  if (process.env.BENCH_PROFILE) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }
  await recreateDatabase();

  const scenarios: Scenario[] = [];
  for (const server of ['billing', 'noop'] as const) {
    for (const link of server === 'noop'
      ? (['httpLink', 'serviceLinks'] as const)
      : (['httpLink', 'serviceLinks', 'many'] as const)) {
      for (const users of server === 'noop'
        ? (['spread'] as const)
        : (['spread', 'hot'] as const)) {
        for (const concurrency of [8, 32]) scenarios.push({ server, link, users, concurrency });
      }
    }
  }
  const only = process.env.BENCH_ONLY?.split(',');
  const selected = scenarios.filter(
    (s) => !only || only.includes(`${s.server}:${s.link}:${s.users}:${s.concurrency}`),
  );

  const results: Awaited<ReturnType<typeof measure>>[] = [];
  const billing = await startBillingProcess();
  let verified = false;
  try {
    const clients = clientsFor(billing.url);
    const operator = serviceClient(billing.url);
    await mintUsers(operator);
    const loadStartedUs = process.hrtime.bigint() / 1000n;
    for (const scenario of selected.filter((s) => s.server === 'billing')) {
      results.push(await measure(billing, clients[scenario.link], scenario, results.length));
    }
    if (process.env.BENCH_PROFILE) {
      const window = {
        startUs: String(loadStartedUs),
        endUs: String(process.hrtime.bigint() / 1000n),
      };
      writeFileSync(path.join(profileDir, 'window.json'), `${JSON.stringify(window)}\n`);
    }
    verified = (await operator.verify.query()).ok;
  } finally {
    await stopProcess(billing.child);
  }

  const noopScenarios = selected.filter((s) => s.server === 'noop');
  if (noopScenarios.length > 0) {
    const noop = await startProcess(
      path.join(serviceDir, 'bench/dist/noop-server.js'),
      {},
      'noop listening',
    );
    try {
      const clients = clientsFor(noop.url);
      for (const scenario of noopScenarios) {
        results.push(await measure(noop, clients[scenario.link], scenario, results.length));
      }
    } finally {
      await stopProcess(noop.child);
    }
  }

  const report = {
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
    loadAverageBefore,
    loadAverageAfter: os.loadavg().map((load) => Number(load.toFixed(2))),
    secondsPerScenario: SECONDS,
    model: MODEL,
    users: USERS,
    ledgerVerified: verified,
    results,
  };
  writeFileSync(path.join(resultsDir, 'billing.json'), `${JSON.stringify(report, null, 2)}\n`);

  console.table(
    results.map((row) => ({
      server: row.server,
      link: row.link,
      users: row.users,
      callers: row.concurrency,
      'pairs/s': row.pairsPerSecond,
      'p50 ms': row.p50Ms,
      'p99 ms': row.p99Ms,
      'server µs/pair': row.serverCpuUsPerPair,
      'client µs/pair': row.clientCpuUsPerPair,
      'postgres µs/pair': row.postgresCpuUsPerPair,
      'items/batch': row.authorizeItemsPerBatch
        ? `${row.authorizeItemsPerBatch}/${row.settleItemsPerBatch}`
        : '',
      'host busy': row.hostCpuBusy,
    })),
  );
  console.log(`ledger verified: ${verified}; results in ${path.join(resultsDir, 'billing.json')}`);
  if (!verified) process.exitCode = 1;
}

async function mintUsers(client: Client) {
  await client.mint.mutate({ userId: HOT_USER, amount: '1000000' });
  for (let first = 0; first < USERS; first += 500) {
    await Promise.all(
      Array.from({ length: 500 }, (_, offset) =>
        client.mint.mutate({ userId: `usr_bench_${first + offset}`, amount: '100' }),
      ),
    );
  }
}

/**
 * Vacuums and analyzes the bench database. Every scenario then starts from the state autovacuum
 * keeps a production database in: where autovacuum is off (development servers often run so),
 * each scenario would otherwise wade through the dead rows of all the scenarios before it.
 */
async function vacuum() {
  const client = new pg.Client({ connectionString: databaseUrl(DATABASE) });
  await client.connect();
  try {
    await client.query('VACUUM (ANALYZE)');
  } finally {
    await client.end();
  }
}

type BatchCounts = Record<'authorize' | 'settle', { batches: number; items: number }>;

/** Billing's ledger batch counters from /metrics; null for the no-op server, which has none. */
async function batchCounts(url: string, scenario: Scenario): Promise<BatchCounts | null> {
  if (scenario.server !== 'billing') return null;
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string, kind: string) =>
    Number(new RegExp(`^${name}\\{[^}]*kind="${kind}"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  const counts = (kind: string) => ({
    batches: read('billing_ledger_batches_total', kind),
    items: read('billing_ledger_batch_items_total', kind),
  });
  return { authorize: counts('authorize'), settle: counts('settle') };
}

/** Items per ledger batch (per database transaction) between two readings of the counters. */
function itemsPerBatch(
  before: BatchCounts | null,
  after: BatchCounts | null,
  kind: keyof BatchCounts,
) {
  if (!before || !after) return null;
  const batches = after[kind].batches - before[kind].batches;
  return batches > 0
    ? Number(((after[kind].items - before[kind].items) / batches).toFixed(1))
    : null;
}

/** One scenario: a warm-up second, then SECONDS measured, with the CPU each party used. */
async function measure(
  server: { child: ChildProcess; url: string },
  client: PairClient,
  scenario: Scenario,
  seed: number,
) {
  if (scenario.server === 'billing') await vacuum();
  await drive(client, scenario, 1, seed);

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const batchesBefore = await batchCounts(server.url, scenario);
    const serverBefore = processCpuSeconds(server.child.pid!);
    const postgresBefore = await postgresCpuSeconds(admin);
    const clientBefore = process.cpuUsage();
    const hostBefore = hostCpu();
    const latencies = await drive(client, scenario, SECONDS, 1000 + seed);
    const serverCpu = processCpuSeconds(server.child.pid!) - serverBefore;
    const postgresCpu = (await postgresCpuSeconds(admin)) - postgresBefore;
    const clientUsage = process.cpuUsage(clientBefore);
    const hostAfter = hostCpu();
    const batchesAfter = await batchCounts(server.url, scenario);

    const pairs = latencies.length;
    const result = {
      ...scenario,
      pairs,
      pairsPerSecond: Math.round(pairs / SECONDS),
      p50Ms: Number(percentile(latencies, 0.5).toFixed(2)),
      p99Ms: Number(percentile(latencies, 0.99).toFixed(2)),
      serverCpuUsPerPair: Math.round((serverCpu * 1e6) / pairs),
      clientCpuUsPerPair: Math.round((clientUsage.user + clientUsage.system) / pairs),
      postgresCpuUsPerPair: Math.round((postgresCpu * 1e6) / pairs),
      authorizeItemsPerBatch: itemsPerBatch(batchesBefore, batchesAfter, 'authorize'),
      settleItemsPerBatch: itemsPerBatch(batchesBefore, batchesAfter, 'settle'),
      hostCpuBusy: Number(
        ((hostAfter.busy - hostBefore.busy) / (hostAfter.total - hostBefore.total)).toFixed(2),
      ),
    };
    process.stdout.write(
      `${scenario.server.padEnd(8)} ${scenario.link.padEnd(13)} ${scenario.users.padEnd(6)} ` +
        `x${String(scenario.concurrency).padEnd(3)} ` +
        `${String(result.pairsPerSecond).padStart(6)} pairs/s` +
        `  p50 ${result.p50Ms} ms  p99 ${result.p99Ms} ms\n`,
    );
    return result;
  } finally {
    await admin.end();
  }
}

main().catch((error: unknown) => {
  const data = (error as { data?: unknown }).data;
  console.error(`bench failed: ${(error as Error).message}`, data ?? '');
  process.exitCode = 1;
});
