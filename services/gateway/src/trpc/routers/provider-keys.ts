import { providerName } from '@creditgate/contracts';
import { z } from 'zod';
import {
  deleteProviderKey,
  listProviderKeys,
  setProviderKey,
  setProviderKeyInput,
} from '../../provider-keys/provider-keys.js';
import { router, userProcedure } from '../init.js';

/** The caller's own provider keys (BYO), sealed at rest and shown back only as a prefix. */
export const providerKeysRouter = router({
  set: userProcedure
    .input(setProviderKeyInput)
    .mutation(({ ctx, input }) => setProviderKey(ctx.deps, ctx.caller.userId, input)),

  list: userProcedure.query(({ ctx }) => listProviderKeys(ctx.deps.prisma, ctx.caller.userId)),

  delete: userProcedure
    .input(z.object({ provider: providerName }))
    .mutation(({ ctx, input }) =>
      deleteProviderKey(ctx.deps.prisma, ctx.caller.userId, input.provider),
    ),
});
