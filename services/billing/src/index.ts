export { startBilling, type BillingServer, type StartOptions } from './app.js';
export { billingEnvSchema, loadBillingEnv, type BillingEnv } from './env.js';
export { createDatabase, type Database } from './db.js';
export {
  createLedger,
  sweepExpiredHolds,
  verifyLedger,
  type Clock,
  type Ledger,
  type LedgerOptions,
} from './ledger/index.js';
export type { BillingRouter } from './routers/index.js';
