import { createHash } from 'node:crypto';
import { z } from 'zod';
import { currencyCode, formatAmount, MINOR_PER_CREDIT, parseAmount } from './money.js';
import { MAX_TOKENS } from './pricing.js';

export const PROVIDERS = ['openai', 'openrouter', 'anthropic'] as const;
export const providerName = z.enum(PROVIDERS);
export type Provider = z.infer<typeof providerName>;

/**
 * The highest price per million tokens of any channel: a million credits. With token counts
 * bounded by MAX_TOKENS, the cost of a whole request then stays within MAX_AMOUNT.
 */
export const MAX_PRICE_PER_MILLION = 1_000_000n * MINOR_PER_CREDIT;

/** A price in credits (USD) per million tokens, written as a decimal string or a JSON number. */
const pricePerMillion = z.union([z.string(), z.number().nonnegative()]).transform((value, ctx) => {
  const text = typeof value === 'number' ? String(value) : value;
  let minor: bigint;
  try {
    minor = parseAmount(text);
  } catch {
    minor = -1n;
  }
  if (minor < 0n) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a non-negative decimal price` });
    return z.NEVER;
  }
  if (minor > MAX_PRICE_PER_MILLION) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is above the highest price of ${formatAmount(MAX_PRICE_PER_MILLION)} per million tokens`,
    });
    return z.NEVER;
  }
  return minor;
});

/** A multiplier of the input price, written plainly (0.5, 1.25): no exponent, at most 100. */
const multiplier = (fallback: number) =>
  z
    .number()
    .nonnegative()
    .max(100)
    .refine((value) => /^\d+(\.\d{1,9})?$/.test(String(value)), 'must have at most 9 decimals')
    .default(fallback);

const catalogModel = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'must be a plain model name'),
  provider: providerName,
  providerModelId: z.string().min(1).max(200),
  contextWindow: z.number().int().positive().max(MAX_TOKENS).default(128_000),
  maxOutputTokens: z.number().int().positive().max(MAX_TOKENS).default(4_096),
  /** Model-specific currencies, spent before `credit`, in this order. */
  currencies: z.array(currencyCode).default([]),
  prices: z.object({
    input: pricePerMillion,
    output: pricePerMillion,
    cacheRead: pricePerMillion.optional(),
    cacheWrite: pricePerMillion.optional(),
    cacheWrite1h: pricePerMillion.optional(),
    reasoning: pricePerMillion.optional(),
  }),
  /** Multipliers of the input price used for cache channels without an explicit price. */
  cacheMultipliers: z
    .object({
      read: multiplier(0.5),
      write: multiplier(1.25),
      write1h: multiplier(2),
    })
    .prefault({}),
});

export const catalogSchema = z
  .object({ models: z.array(catalogModel).min(1) })
  .superRefine((catalog, ctx) => {
    const seen = new Set<string>();
    for (const [index, model] of catalog.models.entries()) {
      if (seen.has(model.id)) {
        ctx.addIssue({ code: 'custom', path: ['models', index, 'id'], message: 'duplicate id' });
      }
      seen.add(model.id);
      for (const [channel, price] of Object.entries(channelPricesOf(model))) {
        if (price > MAX_PRICE_PER_MILLION) {
          ctx.addIssue({
            code: 'custom',
            path: ['models', index, 'prices', channel],
            message: `derived price is above the highest price of ${formatAmount(MAX_PRICE_PER_MILLION)} per million tokens`,
          });
        }
      }
    }
  });

/** Minor units per million tokens, for every usage channel. */
export interface ChannelPrices {
  input: bigint;
  output: bigint;
  cacheRead: bigint;
  cacheWrite: bigint;
  cacheWrite1h: bigint;
  reasoning: bigint;
}

export interface PlatformModel {
  id: string;
  provider: Provider;
  providerModelId: string;
  contextWindow: number;
  maxOutputTokens: number;
  currencies: string[];
  prices: ChannelPrices;
  /** Changes whenever this model's prices change; stored on every burn. */
  pricingVersion: string;
}

export interface Catalog {
  models: PlatformModel[];
  byId: Map<string, PlatformModel>;
}

/** Applies a decimal multiplier to a minor-unit price, rounding up to a whole minor unit. */
function scale(price: bigint, multiplier: number): bigint {
  const [whole = '0', fraction = ''] = String(multiplier).split('.');
  const denominator = 10n ** BigInt(fraction.length);
  const numerator = BigInt(whole + fraction);
  return (price * numerator + denominator - 1n) / denominator;
}

/** Every channel's price: explicit ones as given, cache channels derived from input. */
function channelPricesOf(model: z.infer<typeof catalogModel>): ChannelPrices {
  const { prices, cacheMultipliers } = model;
  return {
    input: prices.input,
    output: prices.output,
    cacheRead: prices.cacheRead ?? scale(prices.input, cacheMultipliers.read),
    cacheWrite: prices.cacheWrite ?? scale(prices.input, cacheMultipliers.write),
    cacheWrite1h: prices.cacheWrite1h ?? scale(prices.input, cacheMultipliers.write1h),
    reasoning: prices.reasoning ?? prices.output,
  };
}

/**
 * Validates a parsed catalog file and derives every channel price.
 * Throws a ZodError on bad input.
 */
export function buildCatalog(raw: unknown): Catalog {
  const parsed = catalogSchema.parse(raw);
  const models = parsed.models.map((model): PlatformModel => {
    const channelPrices = channelPricesOf(model);
    const fingerprint = JSON.stringify(
      Object.entries(channelPrices).map(([channel, price]) => [channel, price.toString()]),
    );
    return {
      id: model.id,
      provider: model.provider,
      providerModelId: model.providerModelId,
      contextWindow: model.contextWindow,
      maxOutputTokens: model.maxOutputTokens,
      currencies: model.currencies,
      prices: channelPrices,
      pricingVersion: createHash('sha256').update(fingerprint).digest('hex').slice(0, 12),
    };
  });
  return { models, byId: new Map(models.map((model) => [model.id, model])) };
}
