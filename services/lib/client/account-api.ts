/** The account API (user-center) over HTTP, for the IM client's users (tests, the drill probe, benchmarks). */
import { ClientError } from "./errors.ts";

/** The account API (user-center) over HTTP. */
export class AccountApi {
  constructor(private readonly baseUrl: string) {}

  private async call<T>(method: string, path: string, body: unknown, token?: string): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as T & { error?: string; message?: string };
    if (!res.ok) throw new ClientError(json.error ?? `http_${res.status}`, json.message ?? res.statusText);
    return json;
  }

  register(username: string, password: string): Promise<{ userId: string }> {
    return this.call("POST", "/v1/users", { username, password });
  }

  login(username: string, password: string): Promise<{ userId: string; token: string; expiresAt: number }> {
    return this.call("POST", "/v1/sessions", { username, password });
  }

  createGroup(
    token: string,
    name: string,
    members: string[] = [],
  ): Promise<{ groupId: string; memberCount: number; diffusion: string }> {
    return this.call("POST", "/v1/groups", { name, members }, token);
  }

  addMembers(
    token: string,
    groupId: string,
    userIds: string[],
  ): Promise<{ groupId: string; memberCount: number; diffusion: string; headSeq: number }> {
    return this.call("POST", `/v1/groups/${groupId}/members`, { userIds }, token);
  }

  group(
    token: string,
    groupId: string,
  ): Promise<{ groupId: string; memberCount: number; diffusion: string; headSeq: number }> {
    return this.call("GET", `/v1/groups/${groupId}`, undefined, token);
  }
}
