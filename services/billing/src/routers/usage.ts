import { requestDetails, usageReport } from '../ledger/index.js';
import { requestInput, usageInput } from '../schemas.js';
import { serviceProcedure } from '../trpc.js';

/** What users spent: usage by model and day, and one request's charge. */
export const usageProcedures = {
  usage: serviceProcedure
    .input(usageInput)
    .query(({ ctx, input }) => usageReport(ctx.ledger, input)),

  request: serviceProcedure
    .input(requestInput)
    .query(({ ctx, input }) => requestDetails(ctx.ledger, input)),
};
