import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAmount, MINOR_PER_CREDIT, parseAmount } from '../src/money.js';

describe('money', () => {
  it('parses decimal credits into exact minor units', () => {
    expect(parseAmount('1')).toBe(MINOR_PER_CREDIT);
    expect(parseAmount('0.01')).toBe(10_000_000n);
    expect(parseAmount('0.000000001')).toBe(1n);
    expect(parseAmount('-2.5')).toBe(-2_500_000_000n);
  });

  it('refuses amounts it cannot hold exactly', () => {
    for (const bad of ['', '1.0000000001', '1e3', 'abc', '1.', '.5', '0x10', 'NaN']) {
      expect(() => parseAmount(bad), bad).toThrow(RangeError);
    }
  });

  it('formats without trailing zeros', () => {
    expect(formatAmount(0n)).toBe('0');
    expect(formatAmount(1_500_000_000n)).toBe('1.5');
    expect(formatAmount(-1n)).toBe('-0.000000001');
  });

  it('round-trips every amount', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 18n), max: 10n ** 18n }), (minor) => {
        expect(parseAmount(formatAmount(minor))).toBe(minor);
      }),
    );
  });
});
