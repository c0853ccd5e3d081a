import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/**
 * Creates the database named in `url` when it does not exist yet, connecting to the server's
 * `postgres` database to do so. Safe to race: a concurrent creator's "already exists" is fine.
 */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(name)) throw new Error(`unsupported database name "${name}"`);

  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE "${name}"`);
  } catch (error) {
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await client.end();
  }
}

/**
 * Applies pending migrations with `prisma migrate deploy`, run from the service's folder so
 * its `prisma.config.ts` is used. `envName` is the variable the config reads the URL from.
 */
export async function migrateDatabase(serviceDir: string, envName: string, url: string) {
  await run('npx', ['--no-install', 'prisma', 'migrate', 'deploy'], {
    cwd: serviceDir,
    env: { ...process.env, [envName]: url },
  });
}

/**
 * True when the database lacks a migration shipped in `prisma/migrations`. Lets a restart skip
 * `prisma migrate deploy`, which takes seconds even when there is nothing to apply (and many
 * more when several replicas start at once).
 */
export async function hasPendingMigrations(serviceDir: string, url: string): Promise<boolean> {
  const shipped = readdirSync(path.join(serviceDir, 'prisma/migrations'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);

  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ migration_name: string }>(
      `SELECT migration_name FROM _prisma_migrations
       WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const applied = new Set(rows.map((row) => row.migration_name));
    return shipped.some((name) => !applied.has(name));
  } catch (error) {
    // No migrations table yet: a fresh database.
    if ((error as { code?: string }).code === '42P01') return true;
    throw error;
  } finally {
    await client.end();
  }
}
