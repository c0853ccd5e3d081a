import type { Provider } from '@creditgate/contracts';
import type { FastifyInstance } from 'fastify';
import type { Caller } from '../../auth/authenticate.js';
import { bearerToken } from '../../auth/authenticate.js';
import type { GatewayDeps } from '../../deps.js';
import { registerChatCompletions } from './chat-completions.js';
import { registerGeneration } from './generation.js';
import { registerModels } from './models.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
}

/**
 * The provider of the platform model a request body names, when the caller's own key for it may
 * route the request: the key is then read with the API key (see Authenticator).
 */
function byoProviderOf(deps: GatewayDeps, body: unknown): Provider | undefined {
  if (!deps.env.BYO_KEYS_ENABLED || typeof body !== 'object' || body === null) return undefined;
  const model = (body as { model?: unknown }).model;
  return typeof model === 'string' ? deps.catalog.byId.get(model)?.provider : undefined;
}

/** The OpenAI-compatible API. Every route needs `Authorization: Bearer <API key>`. */
export async function v1Routes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('preHandler', async (request) => {
    request.caller = await deps.auth.authenticate(bearerToken(request.headers.authorization), {
      providerKeyFor: byoProviderOf(deps, request.body),
    });
    request.outcome.userId = request.caller.userId;
  });

  registerChatCompletions(app, deps);
  registerModels(app, deps);
  registerGeneration(app, deps);
}
