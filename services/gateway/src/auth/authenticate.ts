import { AppError, type Provider } from '@creditgate/contracts';
import type { PrismaClient, Sql } from '../db.js';
import { hashApiKey } from './api-keys.js';

export interface Caller {
  userId: string;
  keyId: string;
  /**
   * The caller's sealed provider keys by provider (a provider that is missing has none stored),
   * read with the API key when provider keys may route requests (see Authenticator).
   */
  providerKeys?: Partial<Record<Provider, string>>;
}

/** Extracts the key from `Authorization: Bearer <key>`; undefined when absent or malformed. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value ? /^Bearer\s+(\S{1,512})\s*$/i.exec(value) : null;
  return match?.[1];
}

interface KeyRow {
  id: string;
  user_id: string;
  revoked: boolean;
  /** With `providerKeys`: one row per stored provider key, or one row of nulls. */
  provider?: Provider | null;
  sealed_key?: string | null;
}

/** How often `lastUsedAt` is written per key; it is informational, not worth a write per call. */
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

/**
 * Resolves a bearer key to its user with one indexed lookup on the key hash. There is
 * deliberately no in-process cache: a key revoked from the CLI or another gateway replica must
 * be refused on the very next request, and the lookup is a single unique-index probe, run as a
 * prepared statement because every request pays for it.
 *
 * A request for a platform model needs the caller's own key for that model's provider, if one
 * is stored (see routing in requests/submit). When provider keys may route requests, the same
 * statement reads the caller's sealed provider keys (a handful at most): a request makes one
 * round trip to the database instead of two, and can make it before its body is read.
 */
export class Authenticator {
  private readonly lastUsedWrites = new Map<string, number>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly sql: Sql,
    private readonly options: { readProviderKeys: boolean },
    private readonly now: () => number = Date.now,
  ) {}

  async authenticate(token: string | undefined): Promise<Caller> {
    if (!token) {
      throw new AppError('invalid_api_key', 'missing API key: send "Authorization: Bearer <key>"');
    }

    const { rows } = await this.sql.query<KeyRow>(
      this.options.readProviderKeys
        ? {
            name: 'gateway_api_key_with_provider_keys',
            text: `SELECT k.id, k.user_id, k.revoked_at IS NOT NULL AS revoked, p.provider, p.sealed_key
                     FROM api_keys k
                     LEFT JOIN provider_keys p ON p.user_id = k.user_id
                    WHERE k.hash = $1`,
            values: [hashApiKey(token)],
          }
        : {
            name: 'gateway_api_key_by_hash',
            text: 'SELECT id, user_id, revoked_at IS NOT NULL AS revoked FROM api_keys WHERE hash = $1',
            values: [hashApiKey(token)],
          },
    );
    const row = rows[0];
    if (!row || row.revoked) throw new AppError('invalid_api_key', 'invalid API key');

    this.touch(row.id);
    const caller: Caller = { userId: row.user_id, keyId: row.id };
    if (this.options.readProviderKeys) {
      caller.providerKeys = {};
      for (const { provider, sealed_key } of rows) {
        if (provider && sealed_key) caller.providerKeys[provider] = sealed_key;
      }
    }
    return caller;
  }

  /** Records use of a key at most once a minute, off the request path. */
  private touch(keyId: string): void {
    const now = this.now();
    const last = this.lastUsedWrites.get(keyId) ?? 0;
    if (now - last < LAST_USED_WRITE_INTERVAL_MS) return;

    this.lastUsedWrites.set(keyId, now);
    if (this.lastUsedWrites.size > 10_000) this.lastUsedWrites.clear();
    this.prisma.apiKey
      .update({ where: { id: keyId }, data: { lastUsedAt: new Date(now) } })
      .catch(() => this.lastUsedWrites.delete(keyId));
  }
}
