import { z } from 'zod';
import { createApiKey } from '../../auth/api-keys.js';
import { createUser } from '../../auth/users.js';
import { traced } from '../../billing/client.js';
import {
  grantCapability,
  grantCapabilityInput,
  mint,
  mintInput,
  revokeCapability,
  revokeCapabilityInput,
  send,
  sendInput,
} from '../../billing/ledger.js';
import {
  capabilityListOutput,
  capabilityStateOutput,
  historyPageOutput,
  openHoldsOutput,
  usageReportOutput,
} from '../../billing/outputs.js';
import {
  historyFiltersInput,
  historyPage,
  openHolds,
  usageRangeInput,
  usageReport,
} from '../../billing/reports.js';
import { adminProcedure, router } from '../init.js';

const userId = z.object({ userId: z.string().min(1).max(64) });

/** Billing checks the acting admin's capabilities again on every ledger call. */
const actor = (ctx: { caller: { userId: string }; requestId: string }) => ({
  userId: ctx.caller.userId,
  requestId: ctx.requestId,
});

/** Operator actions for users holding the `admin` capability; everyone else gets 403. */
export const adminRouter = router({
  createUser: adminProcedure
    .input(z.object({ name: z.string().trim().min(1).max(100) }))
    .mutation(({ ctx, input }) => createUser(ctx.deps.prisma, input.name)),

  createKey: adminProcedure
    .input(userId.extend({ name: z.string().trim().min(1).max(100).optional() }))
    .mutation(({ ctx, input }) => createApiKey(ctx.deps.prisma, input.userId, input.name ?? null)),

  mint: adminProcedure
    .input(mintInput)
    .mutation(({ ctx, input }) => mint(ctx.deps, input, actor(ctx))),

  send: adminProcedure
    .input(sendInput)
    .mutation(({ ctx, input }) => send(ctx.deps, input, actor(ctx))),

  balance: adminProcedure
    .input(userId)
    .query(({ ctx, input }) => ctx.deps.billing.balance.query(input, traced(ctx.requestId))),

  /** Any user's reports, as the user sees their own through `credits.*`. */
  usage: adminProcedure
    .input(userId.extend(usageRangeInput.shape))
    .output(usageReportOutput)
    .query(({ ctx, input: { userId, ...range } }) =>
      usageReport(ctx.deps.billing, userId, range, traced(ctx.requestId)),
    ),

  history: adminProcedure
    .input(userId.extend(historyFiltersInput.shape))
    .output(historyPageOutput)
    .query(({ ctx, input: { userId, ...filters } }) =>
      historyPage(ctx.deps.billing, userId, filters, traced(ctx.requestId)),
    ),

  holds: adminProcedure
    .input(userId)
    .output(openHoldsOutput)
    .query(({ ctx, input }) => openHolds(ctx.deps.billing, input.userId, traced(ctx.requestId))),

  grantCapability: adminProcedure
    .input(grantCapabilityInput)
    .output(capabilityStateOutput)
    .mutation(({ ctx, input }) => grantCapability(ctx.deps, input, actor(ctx))),

  revokeCapability: adminProcedure
    .input(revokeCapabilityInput)
    .output(capabilityStateOutput)
    .mutation(({ ctx, input }) => revokeCapability(ctx.deps, input, actor(ctx))),

  capabilities: adminProcedure
    .input(userId)
    .output(capabilityListOutput)
    .query(({ ctx, input }) =>
      ctx.deps.billing.capabilities.list.query(input, traced(ctx.requestId)),
    ),
});
