import type { FastifyInstance } from 'fastify';
import type { Caller } from '../../auth/authenticate.js';
import type { GatewayDeps } from '../../deps.js';
import { registerChatCompletions } from './chat-completions.js';
import { registerGeneration } from './generation.js';
import { registerModels } from './models.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
}

/** The OpenAI-compatible API. Every route needs `Authorization: Bearer <API key>`. */
export async function v1Routes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('preHandler', async (request) => {
    request.caller = await request.authentication;
    request.outcome.userId = request.caller.userId;
  });

  registerChatCompletions(app, deps);
  registerModels(app, deps);
  registerGeneration(app, deps);
}
