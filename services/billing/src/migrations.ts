import { readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

/**
 * True when the database lacks a migration shipped in `prisma/migrations`. Lets a restart skip
 * `prisma migrate deploy`, which takes seconds even when there is nothing to apply.
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
