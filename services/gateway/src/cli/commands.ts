import { currencyCode, decimalAmount, providerName } from '@creditgate/contracts';
import { z } from 'zod';
import { apiKeyId, createApiKey, listApiKeys, revokeApiKey } from '../auth/api-keys.js';
import { createUser, requireUser } from '../auth/users.js';
import { grantCapability, mint, revokeCapability, send } from '../billing/ledger.js';
import { capabilityName } from '../billing/outputs.js';
import {
  entryKind,
  historyFiltersInput,
  historyPage,
  openHolds,
  usageRangeInput,
  usageReport,
} from '../billing/reports.js';
import { setProviderKey } from '../provider-keys/provider-keys.js';
import { rotateSecrets } from '../secrets/rotate.js';
import { parseOptions } from './args.js';
import type { CliContext } from './context.js';

interface Command<T extends z.ZodObject> {
  summary: string;
  options: T;
  run(context: CliContext, options: z.infer<T>): Promise<unknown>;
}

const id = z.string().min(1).max(64);
const amount = decimalAmount;

function command<T extends z.ZodObject>(definition: Command<T>) {
  return {
    summary: definition.summary,
    usage: Object.entries(definition.options.shape)
      .map(([name, schema]) =>
        (schema as z.ZodType).safeParse(undefined).success ? `[--${name} …]` : `--${name} …`,
      )
      .join(' '),
    parse: (argv: string[]) => parseOptions(definition.options, argv),
    run: (context: CliContext, options: unknown) => definition.run(context, options as z.infer<T>),
  };
}

/** Every CLI command; each one uses the same domain modules as the gateway's API. */
export const COMMANDS: Record<string, ReturnType<typeof command>> = {
  'user:create': command({
    summary: 'create a user and its first API key (shown once)',
    options: z.object({ name: z.string().trim().min(1).max(100) }),
    run: async ({ prisma }, { name }) => {
      const { userId, apiKey } = await createUser(prisma, name);
      return { userId, apiKey };
    },
  }),

  'grant:mint': command({
    summary: 'mint credits to a user',
    options: z.object({
      user: id,
      amount,
      currency: currencyCode.optional(),
      reason: z.string().min(1).max(200).optional(),
    }),
    run: (context, o) =>
      mint(context, { userId: o.user, amount: o.amount, currency: o.currency, reason: o.reason }),
  }),

  'grant:send': command({
    summary: "send credits from one user's balance to another's",
    options: z.object({ from: id, to: id, amount, currency: currencyCode.optional() }),
    run: (context, o) =>
      send(context, { fromUserId: o.from, toUserId: o.to, amount: o.amount, currency: o.currency }),
  }),

  balance: command({
    summary: "a user's balances per currency",
    options: z.object({ user: id }),
    run: async ({ prisma, billing }, { user }) => {
      await requireUser(prisma, user);
      return billing.balance.query({ userId: user });
    },
  }),

  history: command({
    summary:
      "a user's ledger entries, newest first (--kind mint,send for grants, burn for spending)",
    options: z.object({
      user: id,
      currency: currencyCode.optional(),
      kind: z
        .string()
        .transform((text) => text.split(',').map((kind) => kind.trim()))
        .pipe(z.array(entryKind).min(1).max(6))
        .optional(),
      from: historyFiltersInput.shape.from,
      to: historyFiltersInput.shape.to,
      limit: z.coerce.number().int().min(1).max(200).optional(),
      cursor: historyFiltersInput.shape.cursor,
    }),
    run: async ({ prisma, billing }, { user, kind, ...filters }) => {
      await requireUser(prisma, user);
      return historyPage(billing, user, { ...filters, kinds: kind });
    },
  }),

  usage: command({
    summary:
      "a user's tokens and cost by model and by day; --from inclusive, --to exclusive (default: last 30 days)",
    options: usageRangeInput.extend({ user: id, by: z.enum(['model', 'day']).optional() }),
    run: async ({ prisma, billing }, { user, by, ...range }) => {
      await requireUser(prisma, user);
      const report = await usageReport(billing, user, range);
      if (!by) return report;
      const { byModel, byDay, ...rest } = report;
      return by === 'model' ? { ...rest, byModel } : { ...rest, byDay };
    },
  }),

  holds: command({
    summary: "a user's open holds (requests in flight), oldest first",
    options: z.object({ user: id }),
    run: async ({ prisma, billing }, { user }) => {
      await requireUser(prisma, user);
      return openHolds(billing, user);
    },
  }),

  'capability:grant': command({
    summary: 'grant a capability (overspend, admin, mint, send), optionally until a time',
    options: z.object({
      user: id,
      capability: capabilityName,
      expires: z.iso.datetime({ offset: true }).optional(),
    }),
    run: (context, o) =>
      grantCapability(context, { userId: o.user, capability: o.capability, expiresAt: o.expires }),
  }),

  'capability:revoke': command({
    summary: 'revoke a capability',
    options: z.object({ user: id, capability: capabilityName }),
    run: (context, o) => revokeCapability(context, { userId: o.user, capability: o.capability }),
  }),

  'key:create': command({
    summary: 'create an API key for a user (shown once)',
    options: z.object({ user: id, name: z.string().trim().min(1).max(100).optional() }),
    run: ({ prisma }, { user, name }) => createApiKey(prisma, user, name ?? null),
  }),

  'key:list': command({
    summary: "a user's API keys (prefixes only)",
    options: z.object({ user: id }),
    run: async ({ prisma }, { user }) => {
      await requireUser(prisma, user);
      return listApiKeys(prisma, user);
    },
  }),

  'key:revoke': command({
    summary: 'revoke an API key; refused from the next request on',
    options: z.object({ key: apiKeyId }),
    run: ({ prisma }, { key }) => revokeApiKey(prisma, key),
  }),

  'key:add': command({
    summary: "store a user's own provider key (BYO), sealed",
    options: z.object({
      user: id,
      provider: providerName,
      key: z.string().trim().min(8).max(4096),
    }),
    run: (context, o) => setProviderKey(context, o.user, { provider: o.provider, key: o.key }),
  }),

  'keys:rotate': command({
    summary: 're-seal every stored secret under the current ENCRYPTION_KEY',
    options: z.object({}),
    run: ({ prisma, keyring }) => rotateSecrets(prisma, keyring),
  }),
};

export function usage(): string {
  const lines = Object.entries(COMMANDS).map(
    ([name, c]) => `  ${`${name} ${c.usage}`.padEnd(64)} ${c.summary}`,
  );
  return ['usage: npm run -s cli -- <command> [options]', '', ...lines].join('\n');
}
