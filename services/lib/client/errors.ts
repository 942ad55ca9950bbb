/** A failed request of the IM client: the protocol's error code, and the wait the platform asked for. */
export class ClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** From an `err` frame: how long the platform asked to wait before retrying, ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "ClientError";
  }
}
