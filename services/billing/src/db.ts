import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client.js';

export type Db = PrismaClient;

export interface Database {
  /** The process's one Prisma client, for everything but the batched hot paths. */
  prisma: Db;
  /**
   * The pool under the Prisma client. The authorize and settle paths query it directly: each
   * Prisma call costs about 0.4 ms of CPU before reaching the driver (measured here), several
   * times the cost of the query it sends, and that alone would cap their throughput.
   */
  pool: pg.Pool;
  close(): Promise<void>;
}

/** One pool of `poolSize` connections shared by Prisma and the hot paths. */
export function createDatabase(connectionString: string, poolSize: number): Database {
  // Idle connections are kept open: a new backend compiles the ledger functions and plans
  // their statements again (about 10 ms of Postgres CPU each, measured here).
  const pool = new pg.Pool({ connectionString, max: poolSize, idleTimeoutMillis: 0 });
  // An idle connection that breaks (Postgres restarted, the database dropped) is discarded by
  // the pool and the next query opens a new one; without a listener the event ends the process.
  pool.on('error', () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    prisma,
    pool,
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
