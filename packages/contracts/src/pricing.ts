import { z } from 'zod';
import type { ChannelPrices } from './catalog.js';
import { decimalAmount, DEFAULT_CURRENCY, formatAmount, parseAmount } from './money.js';

/**
 * The most tokens any count (prompt, output cap, one usage channel) may carry: far above any
 * real request, and small enough that tokens times the highest catalog price stays exact and
 * fits the ledger's columns (32-bit token counts, BIGINT amounts).
 */
export const MAX_TOKENS = 100_000_000;

/** A token count on the wire: a whole number from 0 to MAX_TOKENS. */
export const tokenCount = z
  .number()
  .int()
  .nonnegative()
  .max(MAX_TOKENS, `must be at most ${MAX_TOKENS} tokens`);

const tokens = tokenCount;

/**
 * Token usage per channel. Channels are disjoint: `input` excludes cached and cache-write
 * tokens, `output` excludes reasoning tokens, so the cost is the plain sum over channels.
 */
export const usageSchema = z.object({
  input: tokens.default(0),
  output: tokens.default(0),
  cacheRead: tokens.default(0),
  cacheWrite: tokens.default(0),
  cacheWrite1h: tokens.default(0),
  reasoning: tokens.default(0),
});
export type Usage = z.infer<typeof usageSchema>;
export const USAGE_CHANNELS = [
  'input',
  'output',
  'cacheRead',
  'cacheWrite',
  'cacheWrite1h',
  'reasoning',
] as const satisfies readonly (keyof Usage)[];

/**
 * Usage with every channel clamped to [0, MAX_TOKENS]: what the worker settles when an upstream
 * reports figures no real request produces. Returns the channels that were changed.
 */
export function clampUsage(usage: Usage): { usage: Usage; clamped: (keyof Usage)[] } {
  const out = { ...usage };
  const clamped: (keyof Usage)[] = [];
  for (const channel of USAGE_CHANNELS) {
    const value = usage[channel];
    const bounded = Number.isFinite(value)
      ? Math.min(MAX_TOKENS, Math.max(0, Math.floor(value)))
      : 0;
    if (bounded !== value) clamped.push(channel);
    out[channel] = bounded;
  }
  return { usage: out, clamped };
}

export const ZERO_USAGE: Usage = {
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite: 0,
  cacheWrite1h: 0,
  reasoning: 0,
};

const MILLION = 1_000_000n;

/** Cost of `count` tokens at `pricePerMillion` minor units, rounded up to a whole minor unit. */
export function tokenCost(count: number, pricePerMillion: bigint): bigint {
  return (BigInt(count) * pricePerMillion + MILLION - 1n) / MILLION;
}

/** Exact cost of a usage record in minor units: each channel rounded up, then summed. */
export function costOf(prices: ChannelPrices, usage: Usage): bigint {
  let total = 0n;
  for (const channel of USAGE_CHANNELS) total += tokenCost(usage[channel], prices[channel]);
  return total;
}

function max(...values: bigint[]): bigint {
  return values.reduce((a, b) => (b > a ? b : a));
}

/** Highest rate a prompt token can be billed at (plain input or either cache write). */
export function promptRate(prices: ChannelPrices): bigint {
  return max(prices.input, prices.cacheWrite, prices.cacheWrite1h);
}

/** Highest rate an output token can be billed at (plain output or reasoning). */
export function outputRate(prices: ChannelPrices): bigint {
  return max(prices.output, prices.reasoning);
}

/** Most a request can cost: every prompt and output token at its highest rate. */
export function ceilingOf(prices: ChannelPrices, promptTokens: number, outputTokens: number) {
  return tokenCost(promptTokens, promptRate(prices)) + tokenCost(outputTokens, outputRate(prices));
}

/** How many output tokens `budget` minor units buy after the prompt is paid for. */
export function affordableOutputTokens(
  prices: ChannelPrices,
  promptTokens: number,
  budget: bigint,
): number {
  const rest = budget - tokenCost(promptTokens, promptRate(prices));
  if (rest <= 0n) return 0;
  const rate = outputRate(prices);
  if (rate === 0n) return Number.MAX_SAFE_INTEGER;
  return Number((rest * MILLION) / rate);
}

/** The order a platform model's currencies are spent in: its own currencies, then `credit`. */
export function applicableCurrencies(modelCurrencies: readonly string[]): string[] {
  const order = modelCurrencies.filter(
    (c, i) => c !== DEFAULT_CURRENCY && modelCurrencies.indexOf(c) === i,
  );
  return [...order, DEFAULT_CURRENCY];
}

/** Channel prices on the wire: credits per million tokens, as decimal strings. */
export const wireChannelPrices = z.object({
  input: decimalAmount,
  output: decimalAmount,
  cacheRead: decimalAmount,
  cacheWrite: decimalAmount,
  cacheWrite1h: decimalAmount,
  reasoning: decimalAmount,
});
export type WireChannelPrices = z.infer<typeof wireChannelPrices>;

export function pricesToWire(prices: ChannelPrices): WireChannelPrices {
  const wire = {} as WireChannelPrices;
  for (const channel of USAGE_CHANNELS) wire[channel] = formatAmount(prices[channel]);
  return wire;
}

export function pricesFromWire(wire: WireChannelPrices): ChannelPrices {
  const prices = {} as ChannelPrices;
  for (const channel of USAGE_CHANNELS) prices[channel] = parseAmount(wire[channel]);
  return prices;
}

/**
 * What settle will burn for a request, from its authorization alone: nothing for an unmetered
 * one (no currency held), `costOf` at the authorized prices for a metered one, the computation
 * billing's settle makes. Null when the decision does not say (no prices in it).
 */
export function decisionCost(
  decision: { currency: string | null; prices?: WireChannelPrices },
  usage: Usage,
): string | null {
  if (decision.currency === null) return '0';
  if (!decision.prices) return null;
  return formatAmount(costOf(pricesFromWire(decision.prices), usage));
}
