/**
 * One node at a time runs the singletons (signed tree heads, retention, key rotation): the
 * one holding a session-level pg_try_advisory_lock on its own dedicated connection. Others
 * retry periodically. The lock lives as long as that connection: when the holder dies (or
 * its connection does), PostgreSQL releases it and the next try elsewhere takes over.
 * The holder checks its connection on every tick, so it also learns when it lost the lock.
 */
import pg from 'pg';

export interface LeaderOptions {
  url: string;
  /** The lock's key: one per singleton group (default: the gateway's). */
  lockKey?: number;
  /** How often to try (and, when leading, to check the connection). */
  intervalMs?: number;
  onChange?: (leader: boolean) => void;
}

export const DEFAULT_LEADER_LOCK = 0x64_61_72_78;

export class LeaderElection {
  private client: pg.Client | undefined;
  private leader = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ticking: Promise<void> | undefined;

  constructor(private readonly opts: LeaderOptions) {}

  isLeader(): boolean {
    return this.leader;
  }

  /** Tries at once, then every intervalMs. */
  async start(): Promise<void> {
    await this.tick();
    const every = this.opts.intervalMs ?? 2_000;
    this.timer = setInterval(() => {
      if (!this.ticking) this.ticking = this.tick().finally(() => (this.ticking = undefined));
    }, every);
    this.timer.unref();
  }

  private set(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.opts.onChange?.(leader);
  }

  /** One attempt: connect if needed, then try the lock (or, holding it, check the connection). */
  async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.client) {
        const client = new pg.Client({ connectionString: this.opts.url, connectionTimeoutMillis: 5_000 });
        client.on('error', () => this.drop(client));
        client.on('end', () => this.drop(client));
        await client.connect();
        this.client = client;
      }
      if (this.leader) {
        await this.client.query('SELECT 1');
      } else {
        const r = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [this.opts.lockKey ?? DEFAULT_LEADER_LOCK]);
        this.set(r.rows[0]?.ok === true);
      }
    } catch {
      if (this.client) this.drop(this.client);
    }
  }

  private drop(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.set(false);
    client.end().catch(() => {});
  }

  /** Gives the lock up (closing the connection releases it). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    const client = this.client;
    this.client = undefined;
    this.set(false);
    if (client) await client.end().catch(() => {});
  }
}
