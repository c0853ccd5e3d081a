import {
  applicableCurrencies,
  buildCatalog,
  formatAmount,
  parseAmount,
  type Catalog,
  type ChannelPrices,
  type PlatformModel,
  USAGE_CHANNELS,
} from '@creditgate/contracts';
import type { Db } from '../db.js';
import type { CustomEndpointPrices } from '../env.js';

/** What billing needs to price one model: channel prices, their version, currencies, output cap. */
export interface ModelPricing {
  prices: ChannelPrices;
  pricingVersion: string;
  /** Applicable currencies in spending order (the model's own, then `credit`). */
  currencies: string[];
  maxOutputTokens: number;
}

const FALLBACK_KEY = '*';

function toPricing(model: PlatformModel): ModelPricing {
  return {
    prices: model.prices,
    pricingVersion: model.pricingVersion,
    currencies: applicableCurrencies(model.currencies),
    maxOutputTokens: model.maxOutputTokens,
  };
}

/**
 * Prices of every model billing may meter: the catalog's platform models and, when the operator
 * meters them, custom endpoints. Also resolves a stored pricing version back to its prices, so a
 * request is settled at the prices it was authorized under even after the catalog changed.
 */
export class PriceBook {
  private readonly platform = new Map<string, ModelPricing>();
  private readonly custom = new Map<string, ModelPricing>();
  private readonly byVersion = new Map<string, ChannelPrices>();

  constructor(catalog: Catalog, customPrices: CustomEndpointPrices) {
    for (const model of catalog.models) this.platform.set(model.id, toPricing(model));

    // Custom endpoint prices go through the catalog's own validation and channel rules; the
    // provider and ids below only satisfy its schema.
    const keys = Object.keys(customPrices);
    const derived = buildCatalog({
      models: [FALLBACK_KEY, ...keys.filter((key) => key !== FALLBACK_KEY)].map((key, index) => ({
        id: `custom-endpoint-${index}`,
        provider: 'openai',
        providerModelId: key,
        prices: customPrices[key] ?? { input: '0', output: '0' },
      })),
    });
    for (const model of derived.models) this.custom.set(model.providerModelId, toPricing(model));

    for (const pricing of [...this.platform.values(), ...this.custom.values()]) {
      this.byVersion.set(pricing.pricingVersion, pricing.prices);
    }
  }

  /** A catalog model's pricing, or undefined when the id is not in the catalog. */
  platformModel(modelId: string): ModelPricing | undefined {
    return this.platform.get(modelId);
  }

  /**
   * A custom endpoint's pricing when metered: its own entry, else the `*` entry
   * (zero by default).
   */
  customEndpoint(modelId: string): ModelPricing {
    return this.custom.get(modelId) ?? this.custom.get(FALLBACK_KEY)!;
  }

  /** Records every known pricing version, so any process can settle against it later. */
  async register(db: Db): Promise<void> {
    for (const [version, prices] of this.byVersion) {
      await db.$executeRaw`
        INSERT INTO pricing_versions (version, prices)
        VALUES (${version}, ${JSON.stringify(serializePrices(prices))}::jsonb)
        ON CONFLICT (version) DO NOTHING`;
    }
  }

  /** Prices of a stored pricing version: from memory, else from the database (another build's). */
  async pricesFor(db: Db, version: string): Promise<ChannelPrices> {
    const known = this.byVersion.get(version);
    if (known) return known;

    const rows = await db.$queryRaw<{ prices: Record<string, string> }[]>`
      SELECT prices FROM pricing_versions WHERE version = ${version}`;
    if (!rows[0]) throw new Error(`pricing version ${version} is not recorded`);
    const prices = deserializePrices(rows[0].prices);
    this.byVersion.set(version, prices);
    return prices;
  }
}

/** Stored as credits per million tokens, one decimal string per channel. */
function serializePrices(prices: ChannelPrices): Record<string, string> {
  return Object.fromEntries(
    USAGE_CHANNELS.map((channel) => [channel, formatAmount(prices[channel])]),
  );
}

function deserializePrices(stored: Record<string, string>): ChannelPrices {
  const prices = {} as ChannelPrices;
  for (const channel of USAGE_CHANNELS) prices[channel] = parseAmount(stored[channel] ?? '0');
  return prices;
}
