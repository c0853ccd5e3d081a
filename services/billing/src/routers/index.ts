import { router } from '../trpc.js';
import { authorizationProcedures } from './authorization.js';
import { capabilitiesRouter } from './capabilities.js';
import { ledgerProcedures } from './ledger.js';
import { usageProcedures } from './usage.js';

export const appRouter = router({
  ...authorizationProcedures,
  ...ledgerProcedures,
  ...usageProcedures,
  capabilities: capabilitiesRouter,
});

/** The type the gateway and the inference worker build their tRPC clients on. */
export type BillingRouter = typeof appRouter;
