/**
 * Error codes of the IM protocol and API: stable strings clients branch on, each with its HTTP status.
 * A handler throws ApiError; the HTTP layer and the gateway turn it into `{ error: code, message }`.
 */
export const ERROR_CODES = {
  bad_request: 400,
  malformed_json: 400,
  frame_too_large: 413,
  unauthorized: 401,
  token_expired: 401,
  forbidden: 403,
  not_a_member: 403,
  unknown_user: 404,
  unknown_group: 404,
  conflict: 409,
  rate_limited: 429,
  /** The platform sheds load: retry after `retryAfterMs` (with jitter); nothing was stored. */
  overloaded: 503,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** For `overloaded` (and any retryable code): how long the caller should wait before retrying, ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
  get status(): number {
    return ERROR_CODES[this.code];
  }
}
