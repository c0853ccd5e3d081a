import { createCustomModelInput, updateCustomModelInput } from '@creditgate/contracts';
import { z } from 'zod';
import {
  createCustomModel,
  deleteCustomModel,
  updateCustomModel,
} from '../../models/custom-models.js';
import { listModels } from '../../models/list.js';
import { router, userProcedure } from '../init.js';

export const modelsRouter = router({
  /** The platform catalog plus the caller's custom models; keys appear only as `hasApiKey`. */
  list: userProcedure.query(({ ctx }) => listModels(ctx.deps, ctx.caller.userId)),

  /** Registers an OpenAI-compatible endpoint; its `id` is the `model` to use in chat requests. */
  createCustom: userProcedure
    .input(createCustomModelInput)
    .mutation(({ ctx, input }) => createCustomModel(ctx.deps, ctx.caller.userId, input)),

  updateCustom: userProcedure
    .input(updateCustomModelInput)
    .mutation(({ ctx, input }) => updateCustomModel(ctx.deps, ctx.caller.userId, input)),

  deleteCustom: userProcedure
    .input(z.object({ id: z.string().min(1).max(64) }))
    .mutation(({ ctx, input }) => deleteCustomModel(ctx.deps.prisma, ctx.caller.userId, input.id)),
});
