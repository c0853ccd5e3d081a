export { createLedger, type Clock, type Ledger, type LedgerOptions } from './context.js';
export { authorize, type AuthorizeOutcome } from './authorize.js';
export { settle, type SettleOutcome } from './settle.js';
export { voidRequest, sweepExpiredHolds, type VoidOutcome } from './holds.js';
export { mint, tally, send, balanceOf, history, openHolds } from './accounts.js';
export {
  capabilityState,
  grantCapability,
  revokeCapability,
  listCapabilities,
  type CapabilityState,
} from './capabilities.js';
export { usageReport, requestDetails } from './reports.js';
export { verifyLedger } from './verify.js';
