/**
 * A leader lease in the database (`platform_leases`, migration 0006): one instance of a service holds a named lease
 * while it renews it, another takes it over once it lapsed. The database's clock decides, so instances' clocks do not
 * matter, and the lease lives where the leader's work is written: a holder that cannot reach the database cannot act
 * either. (Redis would do as well for liveness, but its replication is asynchronous: a failover can hand the lease to
 * two instances at once.)
 */
import type mysql from "mysql2/promise";

export class DbLease {
  private ensured = false;

  /**
   * @param name the lease, e.g. "message.auto-grow"
   * @param holder this instance, unique among the service's replicas (they may share INSTANCE_ID)
   * @param ttlMs how long a renewal holds; the holder renews well before (a third of it is usual)
   */
  constructor(
    private readonly db: mysql.Pool,
    readonly name: string,
    readonly holder: string,
    private readonly ttlMs: number,
  ) {}

  /** Takes the lease when it is free or lapsed, renews it when held; true while this instance holds it. */
  async hold(): Promise<boolean> {
    if (!this.ensured) {
      await this.db.query(
        "INSERT IGNORE INTO platform_leases (name, holder, expires_at) VALUES (?, '', '1970-01-02 00:00:00')",
        [this.name],
      );
      this.ensured = true;
    }
    const [r] = await this.db.query<mysql.ResultSetHeader>(
      "UPDATE platform_leases SET holder = ?, expires_at = NOW(3) + INTERVAL ? MICROSECOND" +
        " WHERE name = ? AND (holder = ? OR expires_at < NOW(3))",
      [this.holder, this.ttlMs * 1000, this.name, this.holder],
    );
    return r.affectedRows === 1;
  }

  /** Gives the lease up at once (a clean shutdown), so another instance takes over without waiting for it to lapse. */
  async release(): Promise<void> {
    await this.db.query(
      "UPDATE platform_leases SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE name = ? AND holder = ?",
      [this.name, this.holder],
    );
  }
}
