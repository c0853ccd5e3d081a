import type { FastifyInstance } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { listModels } from '../../models/list.js';

/** `GET /v1/models`: the platform catalog plus the caller's own custom models, keys never shown. */
export function registerModels(app: FastifyInstance, deps: GatewayDeps): void {
  app.get('/models', async (request) => ({
    object: 'list',
    data: await listModels(deps, request.caller.userId),
  }));
}
