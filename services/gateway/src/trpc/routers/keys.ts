import { z } from 'zod';
import { apiKeyId, createApiKey, listApiKeys, revokeApiKey } from '../../auth/api-keys.js';
import { router, userProcedure } from '../init.js';

const keyName = z.string().trim().min(1).max(100);

/** The caller's own API keys. A new key is shown once; later only its prefix is. */
export const keysRouter = router({
  create: userProcedure
    .input(z.object({ name: keyName.optional() }).optional())
    .mutation(({ ctx, input }) =>
      createApiKey(ctx.deps.prisma, ctx.caller.userId, input?.name ?? null),
    ),

  list: userProcedure.query(({ ctx }) => listApiKeys(ctx.deps.prisma, ctx.caller.userId)),

  /** Takes effect on the next request, on every gateway replica (keys are not cached). */
  revoke: userProcedure
    .input(z.object({ id: apiKeyId }))
    .mutation(({ ctx, input }) => revokeApiKey(ctx.deps.prisma, input.id, ctx.caller.userId)),
});
