import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

export const SERVICES_WITH_DB = ['billing', 'gateway'] as const;

/**
 * Postgres and Redis for the whole run: containers when a Docker engine answers, else the
 * services named by TEST_DATABASE_URL / TEST_REDIS_URL (default: local ones). Each service's
 * migrations are applied once to a template database per run; every test file clones its own
 * database from the template, so files never share state and runs never collide.
 */
async function startBackends(): Promise<{
  pgUrl: string;
  redisUrl: string;
  stop: () => Promise<void>;
}> {
  const envPg =
    process.env.TEST_DATABASE_URL ?? 'postgresql://postgres:postgres@127.0.0.1:5432/postgres';
  const envRedis = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (process.env.TEST_USE_CONTAINERS === 'false')
    return { pgUrl: envPg, redisUrl: envRedis, stop: async () => {} };

  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
  } catch {
    return { pgUrl: envPg, redisUrl: envRedis, stop: async () => {} };
  }

  const { GenericContainer, Wait } = await import('testcontainers');
  const postgres = await new GenericContainer('postgres:16-alpine')
    .withEnvironment({ POSTGRES_PASSWORD: 'postgres' })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
    .start();
  const redis = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
  return {
    pgUrl: `postgresql://postgres:postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/postgres`,
    redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
    stop: async () => {
      await Promise.all([postgres.stop(), redis.stop()]);
    },
  };
}

function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export default async function setup(project: TestProject) {
  const backends = await startBackends();
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: backends.pgUrl });
  await admin.connect();

  const templates: Record<string, string> = {};
  for (const service of SERVICES_WITH_DB) {
    const name = `cg_tpl_${runId}_${service}`;
    await admin.query(`CREATE DATABASE "${name}"`);
    const envName = `${service.toUpperCase()}_DATABASE_URL`;
    await run('npx', ['prisma', 'migrate', 'deploy'], {
      cwd: path.join(root, 'services', service),
      env: { ...process.env, [envName]: databaseUrl(backends.pgUrl, name) },
    });
    templates[service] = name;
  }

  project.provide('pgAdminUrl', backends.pgUrl);
  project.provide('redisUrl', backends.redisUrl);
  project.provide('runId', runId);
  project.provide('templates', templates);

  return async () => {
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1`,
      [`cg_%_${runId}_%`],
    );
    for (const { datname } of rows) {
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    await admin.end();
    await backends.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    redisUrl: string;
    runId: string;
    templates: Record<string, string>;
  }
}
