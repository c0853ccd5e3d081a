import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../src/catalog.js';
import { chatCompletionRequestSchema } from '../src/chat.js';
import { MAX_TOKENS } from '../src/pricing.js';

const base = { id: 'm', provider: 'openai', providerModelId: 'm', prices: { input: 1, output: 2 } };

describe('catalog', () => {
  it('refuses duplicate ids, unknown providers and negative prices', () => {
    expect(() => buildCatalog({ models: [base, base] })).toThrow(/duplicate id/);
    expect(() => buildCatalog({ models: [{ ...base, provider: 'acme' }] })).toThrow();
    expect(() =>
      buildCatalog({ models: [{ ...base, prices: { input: '-1', output: 1 } }] }),
    ).toThrow();
    expect(() => buildCatalog({ models: [] })).toThrow();
  });

  it('changes the pricing version only when prices change', () => {
    const a = buildCatalog({ models: [base] }).models[0]!;
    const b = buildCatalog({ models: [{ ...base, maxOutputTokens: 10 }] }).models[0]!;
    const c = buildCatalog({ models: [{ ...base, prices: { input: 1, output: 3 } }] }).models[0]!;
    expect(a.pricingVersion).toBe(b.pricingVersion);
    expect(a.pricingVersion).not.toBe(c.pricingVersion);
  });

  it('refuses prices, multipliers and limits whose products could leave the ledger range', () => {
    const model = (extra: Record<string, unknown>) =>
      buildCatalog({ models: [{ ...base, ...extra }] });
    expect(() => model({ prices: { input: '1000000.000000001', output: 1 } })).toThrow(
      /highest price/,
    );
    expect(() => model({ prices: { input: 1, output: 1e30 } })).toThrow();
    // A derived cache price past the bound is refused like an explicit one.
    expect(() =>
      model({ prices: { input: 1_000_000, output: 1 }, cacheMultipliers: { write1h: 2 } }),
    ).toThrow(/cacheWrite1h/);
    expect(() => model({ cacheMultipliers: { read: 1e-7 } })).toThrow();
    expect(() => model({ cacheMultipliers: { read: 1e30 } })).toThrow();
    expect(() => model({ maxOutputTokens: MAX_TOKENS + 1 })).toThrow();
    expect(() => model({ contextWindow: 2 ** 40 })).toThrow();
    expect(
      model({ prices: { input: 1_000_000, output: 1 }, cacheMultipliers: { write: 1, write1h: 1 } })
        .models,
    ).toHaveLength(1);
  });

  it('bounds every token count a chat request can carry', () => {
    const request = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    for (const field of ['max_tokens', 'max_completion_tokens']) {
      expect(
        chatCompletionRequestSchema.safeParse({ ...request, [field]: MAX_TOKENS }).success,
      ).toBe(true);
      expect(
        chatCompletionRequestSchema.safeParse({ ...request, [field]: MAX_TOKENS + 1 }).success,
      ).toBe(false);
      expect(chatCompletionRequestSchema.safeParse({ ...request, [field]: 1e300 }).success).toBe(
        false,
      );
    }
    expect(chatCompletionRequestSchema.safeParse({ ...request, seed: 2 ** 60 }).success).toBe(
      false,
    );
  });
});
