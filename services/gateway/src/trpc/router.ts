import { adminRouter } from './routers/admin.js';
import { chatRouter } from './routers/chat.js';
import { creditsRouter } from './routers/credits.js';
import { keysRouter } from './routers/keys.js';
import { modelsRouter } from './routers/models.js';
import { providerKeysRouter } from './routers/provider-keys.js';
import { router } from './init.js';

/** Everything served at /trpc. Import `type AppRouter` from `@creditgate/gateway` for a typed client. */
export const appRouter = router({
  models: modelsRouter,
  credits: creditsRouter,
  keys: keysRouter,
  providerKeys: providerKeysRouter,
  chat: chatRouter,
  admin: adminRouter,
});

export type AppRouter = typeof appRouter;
