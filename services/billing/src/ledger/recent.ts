import type pg from 'pg';

/** What settle needs to know about an authorized request to price it. */
export interface RequestMeta {
  userId: string;
  modelId: string;
  routeClass: string;
  /** True when the request holds credits and pays for its usage. */
  metered: boolean;
  currency: string | null;
  pricingVersion: string | null;
}

const METERED_REASONS = new Set(['balance', 'overspend']);

/**
 * Requests this process authorized recently, so settling them needs no extra read. Entries are
 * only ever a shortcut: the settle function re-checks status and pricing version in the
 * database, and a request authorized by another process is read from the table.
 */
export class RecentRequests {
  private readonly entries = new Map<string, RequestMeta>();

  constructor(private readonly capacity: number) {}

  remember(requestId: string, meta: RequestMeta): void {
    if (this.entries.size >= this.capacity) {
      // Maps iterate in insertion order: drop the oldest.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(requestId, meta);
  }

  forget(requestId: string): void {
    this.entries.delete(requestId);
  }

  /** The request's meta from memory, else from the table; undefined when it does not exist. */
  async lookup(pool: pg.Pool, requestId: string): Promise<RequestMeta | undefined> {
    const known = this.entries.get(requestId);
    if (known) return known;

    const { rows } = await pool.query<{
      user_id: string;
      model_id: string;
      route_class: string;
      decision: string;
      reason: string;
      currency: string | null;
      pricing_version: string | null;
    }>(
      `SELECT user_id, model_id, route_class, decision, reason, currency, pricing_version
       FROM requests WHERE request_id = $1`,
      [requestId],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      userId: row.user_id,
      modelId: row.model_id,
      routeClass: row.route_class,
      metered: row.decision === 'approved' && METERED_REASONS.has(row.reason),
      currency: row.currency,
      pricingVersion: row.pricing_version,
    };
  }
}
