import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../src/catalog.js';
import { parseAmount } from '../src/money.js';
import {
  affordableOutputTokens,
  applicableCurrencies,
  ceilingOf,
  costOf,
  tokenCost,
  ZERO_USAGE,
} from '../src/pricing.js';

const catalog = buildCatalog({
  models: [
    {
      id: 'gpt-4o-mini',
      provider: 'openai',
      providerModelId: 'gpt-4o-mini',
      prices: { input: '0.15', cacheRead: '0.075', output: '0.60' },
    },
    {
      id: 'odd',
      provider: 'anthropic',
      providerModelId: 'odd',
      currencies: ['odd-credit', 'credit', 'odd-credit'],
      prices: { input: 0.0375, output: 3, reasoning: 4 },
      cacheMultipliers: { read: 0.1 },
    },
  ],
});
const mini = catalog.byId.get('gpt-4o-mini')!.prices;
const odd = catalog.byId.get('odd')!.prices;

describe('pricing', () => {
  it('prices gpt-4o-mini exactly per channel', () => {
    const usage = { ...ZERO_USAGE, input: 1_000, cacheRead: 200, output: 500 };
    // 1000 * 0.15/M + 200 * 0.075/M + 500 * 0.60/M = 0.00015 + 0.000015 + 0.0003
    expect(costOf(mini, usage)).toBe(parseAmount('0.000465'));
  });

  it('rounds each channel up to a whole minor unit', () => {
    // 0.0375 per million is 37.5 minor units per token.
    expect(tokenCost(1, odd.input)).toBe(38n);
    expect(tokenCost(2, odd.input)).toBe(75n);
  });

  it('derives cache prices from multipliers and reasoning from output by default', () => {
    expect(mini.reasoning).toBe(mini.output);
    expect(mini.cacheWrite).toBe((mini.input * 125n) / 100n);
    expect(odd.cacheRead).toBe(3_750_000n);
  });

  it('ceiling bills prompt and output at their highest rates', () => {
    expect(ceilingOf(odd, 1_000_000, 1_000_000)).toBe(odd.cacheWrite1h + odd.reasoning);
  });

  it('never costs more than the ceiling for the same token counts', () => {
    fc.assert(
      fc.property(
        fc.nat(100_000),
        fc.nat(100_000),
        fc.nat(100_000),
        fc.nat(100_000),
        (input, cached, output, reasoning) => {
          const usage = { ...ZERO_USAGE, input, cacheRead: cached, output, reasoning };
          expect(costOf(odd, usage)).toBeLessThanOrEqual(
            ceilingOf(odd, input + cached, output + reasoning),
          );
        },
      ),
    );
  });

  it('affordable output tokens fit the budget and one more does not', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.bigInt({ min: 0n, max: 10n ** 10n }), (prompt, budget) => {
        const tokens = affordableOutputTokens(mini, prompt, budget);
        if (tokens > 0) expect(ceilingOf(mini, prompt, tokens)).toBeLessThanOrEqual(budget);
        expect(ceilingOf(mini, prompt, tokens + 1)).toBeGreaterThan(budget);
      }),
    );
  });

  it('spends a model-specific currency first, once, then credit', () => {
    expect(applicableCurrencies(catalog.byId.get('odd')!.currencies)).toEqual([
      'odd-credit',
      'credit',
    ]);
    expect(applicableCurrencies([])).toEqual(['credit']);
  });
});
