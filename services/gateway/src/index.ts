export { startGateway, buildApp, TRPC_MAX_BATCH_SIZE, type Gateway } from './app.js';
export { gatewayEnvSchema, loadEnv, type GatewayEnv } from './env.js';
export type { GatewayOptions } from './deps.js';
export type { AppRouter } from './trpc/router.js';
export type { ChatStreamEvent } from './trpc/routers/chat.js';
export type { GatewayErrorData, OpenAiErrorEnvelope } from './errors.js';
