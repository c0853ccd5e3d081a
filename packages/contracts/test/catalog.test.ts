import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../src/catalog.js';

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
});
