import {
  capabilityState,
  grantCapability,
  listCapabilities,
  revokeCapability,
  type CapabilityState,
} from '../ledger/index.js';
import { checkInput, grantInput, revokeInput, userInput } from '../schemas.js';
import { router, serviceProcedure } from '../trpc.js';

function toWire(state: CapabilityState) {
  return { ...state, expiresAt: state.expiresAt?.toISOString() ?? null };
}

export const capabilitiesRouter = router({
  grant: serviceProcedure.input(grantInput).mutation(async ({ ctx, input }) => {
    const { actorUserId, ...rest } = input;
    const state = await grantCapability(ctx.ledger, { ...rest, actorId: actorUserId });
    ctx.log.info(
      { userId: input.userId, capability: input.capability, actorUserId },
      'capability granted',
    );
    return toWire(state);
  }),

  revoke: serviceProcedure.input(revokeInput).mutation(async ({ ctx, input }) => {
    const { actorUserId, ...rest } = input;
    const state = await revokeCapability(ctx.ledger, { ...rest, actorId: actorUserId });
    ctx.log.info(
      { userId: input.userId, capability: input.capability, actorUserId },
      'capability revoked',
    );
    return toWire(state);
  }),

  list: serviceProcedure.input(userInput).query(async ({ ctx, input }) => {
    const { capabilities, history } = await listCapabilities(ctx.ledger, input.userId);
    return {
      capabilities: capabilities.map(toWire),
      history: history.map((event) => ({
        ...event,
        expiresAt: event.expiresAt?.toISOString() ?? null,
        at: event.at.toISOString(),
      })),
    };
  }),

  check: serviceProcedure
    .input(checkInput)
    .query(async ({ ctx, input }) =>
      toWire(await capabilityState(ctx.ledger, input.userId, input.capability)),
    ),
});
