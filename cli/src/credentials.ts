/**
 * Credentials in URLs, never printed: a user and password (`http://user:pass@host`) in any URL of a text become
 * "***". Every line imctl prints passes through here (main.ts, progress lines), and so does every message that may
 * quote a URL from a stack file (its Prometheus, its edge), so a password there reaches no terminal, log or --json.
 */

/** The userinfo of every URL in `text` (scheme://userinfo@) replaced by "***". */
export const withoutCredentials = (text: string): string =>
  text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/?#\s"'<>`]*@/gi, "$1***@");
