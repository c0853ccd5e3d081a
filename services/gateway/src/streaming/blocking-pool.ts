import { Redis } from 'ioredis';

/**
 * Connections for `XREAD BLOCK`. A blocked read holds its connection, so each open stream gets
 * one of its own; finished streams hand theirs back for the next request instead of paying a
 * new TCP handshake. Commands fail fast (no offline queue) so a Redis outage ends streams with
 * an error instead of leaving them hanging.
 */
export class BlockingConnectionPool {
  private readonly idle: Redis[] = [];
  private readonly live = new Set<Redis>();
  private closed = false;

  /**
   * `maxIdle` should cover the streams a gateway holds open at its busiest: a connection
   * released beyond it is closed, and the next stream pays for a new TCP connection and its
   * handshake with Redis. At 64 concurrent streams a cap of 32 closed and reopened a connection
   * for about every other request; an idle connection costs Redis only a few KB.
   */
  constructor(
    private readonly url: string,
    private readonly maxIdle = 256,
  ) {}

  async acquire(): Promise<Redis> {
    if (this.closed) throw new Error('Connection is closed: the gateway is shutting down');
    for (let conn = this.idle.pop(); conn; conn = this.idle.pop()) {
      if (conn.status === 'ready') return conn;
      this.discard(conn);
    }

    const conn = new Redis(this.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectionName: 'gateway-stream-reader',
    });
    // Errors surface on the pending command; the event itself needs a listener to stay quiet.
    conn.on('error', () => {});
    this.live.add(conn);
    try {
      await conn.connect();
    } catch (error) {
      this.discard(conn);
      throw error;
    }
    return conn;
  }

  /** Returns a connection; one that was interrupted mid-command is closed instead. */
  release(conn: Redis, reusable: boolean): void {
    if (reusable && !this.closed && conn.status === 'ready' && this.idle.length < this.maxIdle) {
      this.idle.push(conn);
    } else {
      this.discard(conn);
    }
  }

  discard(conn: Redis): void {
    this.live.delete(conn);
    conn.disconnect();
  }

  close(): void {
    this.closed = true;
    for (const conn of this.live) conn.disconnect();
    this.live.clear();
    this.idle.length = 0;
  }
}
