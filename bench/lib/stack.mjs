// Runs creditgate as real production processes for a benchmark: fresh databases, its own Redis
// prefix, billing + inference + gateway from their built `dist/main.js`, and the operator CLI.

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';

const run = promisify(execFile);

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const MAIN = {
  billing: path.join(ROOT, 'services/billing/dist/main.js'),
  inference: path.join(ROOT, 'services/inference/dist/main.js'),
  gateway: path.join(ROOT, 'services/gateway/dist/main.js'),
};
const CLI = path.join(ROOT, 'services/gateway/dist/cli/main.js');
const UPSTREAM = path.join(ROOT, 'bench/lib/upstream.mjs');

export function freePort() {
  const server = createServer();
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    }),
  );
}

/** Drops and creates each named database on the server of `adminUrl`. */
export async function recreateDatabases(adminUrl, names) {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (const name of names) {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.query(`CREATE DATABASE "${name}"`);
    }
  } finally {
    await admin.end();
  }
}

/** Deletes every key under `prefix:` (the queue, event streams, heartbeats, rate limits). */
export async function clearRedisPrefix(redisUrl, prefix) {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function waitUntilReady(url, child, name, logFile, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const ok = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
      async (response) => {
        await response.body?.cancel();
        return response.ok;
      },
      () => false,
    );
    if (ok) return;
    await sleep(100);
  }
  const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
  throw new Error(`${name} did not become ready (${url}); last log lines:\n${tail}`);
}

/**
 * One running service. `stop()` sends SIGTERM and waits for the exit (a CPU profile, when one
 * is being taken, is written then).
 */
export class ServiceProcess {
  constructor(name, child, port, logFile) {
    this.name = name;
    this.child = child;
    this.port = port;
    this.logFile = logFile;
    this.pid = child.pid;
    /** Every stdout line parsed as a JSON log entry, when the stack keeps logs (see keepLogs). */
    this.logs = [];
    this.logWaiters = [];
  }

  /** Resolves with the first log entry (kept so far or to come) for which `match` holds. */
  waitForLog(match) {
    const found = this.logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.logWaiters.push({ match, resolve }));
  }

  addLogLine(line) {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      return;
    }
    this.logs.push(entry);
    this.logWaiters = this.logWaiters.filter((waiter) => {
      if (!waiter.match(entry)) return true;
      waiter.resolve(entry);
      return false;
    });
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(timeoutMs = 20_000) {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * The benchmark's stack: the environment every process shares, and helpers to start the
 * upstream server, each service (more than one gateway or worker for the scale runs), and CLI
 * commands. Options: `adminUrl`, `redisUrl`, `queuePrefix`, `databases` ({ gateway, billing }
 * names), `logDir`, `logLevel`, and optionally `workerConcurrency`, `profileDir` and `keepLogs`
 * (parse every process's JSON log lines into `service.logs`, for tests that wait on them).
 */
export class BenchStack {
  constructor(options) {
    this.options = options;
    this.processes = [];
    this.logDir = options.logDir;
    mkdirSync(this.logDir, { recursive: true });

    const dbUrl = (name) => {
      const url = new URL(options.adminUrl);
      url.pathname = `/${name}`;
      return url.toString();
    };
    this.env = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      LOG_LEVEL: options.logLevel,
      SERVICE_TOKEN: `bench-${randomBytes(18).toString('hex')}`,
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      REDIS_URL: options.redisUrl,
      QUEUE_PREFIX: options.queuePrefix,
      GATEWAY_DATABASE_URL: dbUrl(options.databases.gateway),
      BILLING_DATABASE_URL: dbUrl(options.databases.billing),
      RATE_LIMIT_PER_MINUTE: '100000000',
      OPENAI_API_KEY: 'sk-bench-upstream-key',
    };
  }

  spawnLogged(name, args, env) {
    const logFile = path.join(this.logDir, `${name}.log`);
    const log = createWriteStream(logFile);
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    return { child, logFile };
  }

  /** Wraps a started child; with `keepLogs`, its log entries are parsed and kept in memory. */
  track(name, child, port, logFile) {
    const service = new ServiceProcess(name, child, port, logFile);
    if (this.options.keepLogs) {
      createInterface({ input: child.stdout }).on('line', (line) => service.addLogLine(line));
    }
    this.processes.push(service);
    return service;
  }

  nodeArgs(name) {
    if (!this.options.profileDir) return [];
    return [
      '--cpu-prof',
      `--cpu-prof-dir=${this.options.profileDir}`,
      `--cpu-prof-name=${name}.cpuprofile`,
    ];
  }

  /** The loopback OpenAI-compatible server; its own process. */
  async startUpstream({ firstTokenMs, chunks, chunkIntervalMs }) {
    const child = spawn(
      process.execPath,
      [
        UPSTREAM,
        '--first-token-ms',
        String(firstTokenMs),
        '--chunks',
        String(chunks),
        '--chunk-interval-ms',
        String(chunkIntervalMs),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [line] = await once(child.stdout, 'data');
    const { port } = JSON.parse(String(line));
    const service = new ServiceProcess('upstream', child, port, null);
    this.processes.push(service);
    this.env.OPENAI_BASE_URL = `${service.url}/v1`;
    return service;
  }

  async startBilling() {
    const port = await freePort();
    const env = { ...this.env, BILLING_PORT: String(port), BILLING_HOST: '127.0.0.1' };
    const { child, logFile } = this.spawnLogged(
      'billing',
      [...this.nodeArgs('billing'), MAIN.billing],
      env,
    );
    const service = this.track('billing', child, port, logFile);
    this.env.BILLING_URL = service.url;
    await waitUntilReady(`${service.url}/readyz`, child, 'billing', logFile);
    return service;
  }

  /** A worker; `overrides` adds to or replaces the shared environment for this process only. */
  async startWorker(name = 'inference', overrides = {}) {
    const port = await freePort();
    const env = {
      ...this.env,
      INFERENCE_PORT: String(port),
      INFERENCE_HOST: '127.0.0.1',
      ...(this.options.workerConcurrency
        ? { WORKER_CONCURRENCY: String(this.options.workerConcurrency) }
        : {}),
      ...overrides,
    };
    const { child, logFile } = this.spawnLogged(
      name,
      [...this.nodeArgs(name), MAIN.inference],
      env,
    );
    const service = this.track(name, child, port, logFile);
    await waitUntilReady(`${service.url}/readyz`, child, name, logFile);
    return service;
  }

  /** A gateway; `overrides` adds to or replaces the shared environment for this process only. */
  async startGateway(name = 'gateway', overrides = {}) {
    const port = await freePort();
    const env = { ...this.env, PORT: String(port), HOST: '127.0.0.1', ...overrides };
    const { child, logFile } = this.spawnLogged(name, [...this.nodeArgs(name), MAIN.gateway], env);
    const service = this.track(name, child, port, logFile);
    await waitUntilReady(`${service.url}/readyz`, child, name, logFile);
    return service;
  }

  /** Runs an operator CLI command with the gateway's environment; returns its JSON output. */
  async cli(command, options) {
    const args = [CLI, command];
    for (const [name, value] of Object.entries(options)) args.push(`--${name}`, String(value));
    const { stdout } = await run(process.execPath, args, { cwd: ROOT, env: this.env });
    return JSON.parse(stdout);
  }

  async stopProcess(service) {
    await service.stop();
    this.processes = this.processes.filter((p) => p !== service);
  }

  /** Gateways first (they cancel what is still open), then workers, billing, the upstream. */
  async stopAll() {
    const order = ['gateway', 'inference', 'billing', 'upstream'];
    const rank = (p) => order.findIndex((prefix) => p.name.startsWith(prefix));
    const sorted = [...this.processes].sort((a, b) => rank(a) - rank(b));
    for (const service of sorted) await service.stop().catch(() => undefined);
    this.processes = [];
  }
}
