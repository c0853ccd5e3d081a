import { z } from 'zod';

/**
 * Money is held as integer minor units (BigInt). One credit is one US dollar and is divided
 * into 10^9 minor units (nano-credits): small enough that a per-million-token price with up to
 * three decimals costs a whole number of minor units per token.
 */
export const MINOR_DIGITS = 9;
export const MINOR_PER_CREDIT = 10n ** BigInt(MINOR_DIGITS);

const DECIMAL_RE = /^(-)?(\d{1,19})(?:\.(\d{1,9}))?$/;

/**
 * The largest amount, in minor units, that any input may carry and any account may hold: one
 * billion credits. Postgres stores amounts as BIGINT (about 9.2 * 10^18); keeping every operand
 * at or below 10^18 means a sum of two of them, or a balance plus an amount, cannot overflow.
 */
export const MAX_AMOUNT = 10n ** 18n;

/**
 * Parses a decimal credit amount ("1.5", "-0.000000001") into minor units.
 * Throws on anything else.
 */
export function parseAmount(text: string): bigint {
  const match = DECIMAL_RE.exec(text.trim());
  if (!match) {
    throw new RangeError(
      `"${text}" is not a decimal amount with at most ${MINOR_DIGITS} fractional digits`,
    );
  }
  const [, sign, whole, fraction = ''] = match;
  const minor = BigInt(whole!) * MINOR_PER_CREDIT + BigInt(fraction.padEnd(MINOR_DIGITS, '0'));
  return sign ? -minor : minor;
}

/** Formats minor units as a decimal credit string without trailing zeros ("1.5", "0", "-2"). */
export function formatAmount(minor: bigint): string {
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  const whole = abs / MINOR_PER_CREDIT;
  const fraction = (abs % MINOR_PER_CREDIT)
    .toString()
    .padStart(MINOR_DIGITS, '0')
    .replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** A decimal credit amount on the wire, e.g. "12.5", at most MAX_AMOUNT either side of zero. */
export const decimalAmount = z
  .string()
  .max(40)
  .refine((text) => DECIMAL_RE.test(text.trim()), {
    message: `must be a decimal amount with at most ${MINOR_DIGITS} fractional digits`,
    // Stop here on malformed text: later refinements parse the amount.
    abort: true,
  })
  .refine(
    (text) => {
      const minor = parseAmount(text);
      return minor <= MAX_AMOUNT && minor >= -MAX_AMOUNT;
    },
    { message: `must be at most ${formatAmount(MAX_AMOUNT)} credits`, abort: true },
  );

/** A strictly positive decimal credit amount on the wire. */
export const positiveAmount = decimalAmount.refine(
  (text) => parseAmount(text) > 0n,
  'must be greater than zero',
);

/** Currency codes: `credit`, or a model-specific currency such as `claude-credit`. */
export const currencyCode = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be lowercase letters, digits, "-" or "_" (at most 32)');
export type Currency = z.infer<typeof currencyCode>;

export const DEFAULT_CURRENCY = 'credit';
