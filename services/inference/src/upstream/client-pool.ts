import { createHash } from 'node:crypto';

/**
 * A small LRU of SDK clients keyed by (base URL, key). Building an SDK client is cheap but not
 * free, and reusing one keeps its configuration stable; the HTTP connections themselves live in
 * the shared undici Agent, so an evicted client loses nothing. The key is hashed so the map
 * never holds a plaintext secret beyond what the client object itself needs.
 */
export class ClientPool<T> {
  private readonly clients = new Map<string, T>();

  constructor(private readonly capacity: number) {}

  get(parts: readonly string[], create: () => T): T {
    const id = createHash('sha256').update(parts.join('\u0000')).digest('base64url');
    const hit = this.clients.get(id);
    if (hit !== undefined) {
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.clients.delete(id);
      this.clients.set(id, hit);
      return hit;
    }

    const client = create();
    this.clients.set(id, client);
    if (this.clients.size > this.capacity) {
      const oldest = this.clients.keys().next().value as string;
      this.clients.delete(oldest);
    }
    return client;
  }

  get size(): number {
    return this.clients.size;
  }
}
