import http from "k6/http";

export interface TestUser {
  userId: string;
  token: string;
}

const PASSWORD = "load-test-password";

function must(res: http.RefinedResponse<"text">, what: string): Record<string, unknown> {
  if (res.status < 200 || res.status >= 300)
    throw new Error(`${what}: HTTP ${res.status} ${String(res.body).slice(0, 200)}`);
  return JSON.parse(String(res.body)) as Record<string, unknown>;
}

const headers = { "content-type": "application/json" };

/** One POST per user name, as one k6 batch; each answer checked (`what` names the step in a failure). */
function postEach(target: string, path: string, names: string[], what: string): Record<string, unknown>[] {
  const res = http.batch(
    names.map((username) => ({
      method: "POST",
      url: `${target}${path}`,
      body: JSON.stringify({ username, password: PASSWORD }),
      params: { headers },
    })),
  );
  return res.map((r, i) => must(r as http.RefinedResponse<"text">, `${what} ${names[i]}`));
}

/** The user names of batch `start` (at most 50) of `n`. */
function batchNames(prefix: string, start: number, n: number): string[] {
  return Array.from({ length: Math.min(50, n - start) }, (_, i) => `${prefix}-${start + i}`);
}

/**
 * Registers and signs in `n` users (in batches, in setup()): the setup fails fast, with the HTTP status, when the
 * target is not ready.
 */
export function createUsers(target: string, n: number, prefix: string): TestUser[] {
  const users: TestUser[] = [];
  for (let start = 0; start < n; start += 50) {
    const names = batchNames(prefix, start, n);
    postEach(target, "/v1/users", names, "register");
    for (const body of postEach(target, "/v1/sessions", names, "sign in"))
      users.push({ userId: String(body.userId), token: String(body.token) });
  }
  return users;
}

/**
 * Registers `n` users who never sign in (members who stay offline), in batches; their ids. One scrypt hash each on
 * user-center instead of createUsers' two.
 */
export function registerUsers(target: string, n: number, prefix: string): string[] {
  const ids: string[] = [];
  for (let start = 0; start < n; start += 50)
    for (const body of postEach(target, "/v1/users", batchNames(prefix, start, n), "register"))
      ids.push(String(body.userId));
  return ids;
}

/** Adds `userIds` to a group as `actor` (a member); the group's head seq they joined at. */
export function addMembers(target: string, actor: TestUser, groupId: string, userIds: string[]): number {
  const res = http.post(`${target}/v1/groups/${groupId}/members`, JSON.stringify({ userIds }), {
    headers: { "content-type": "application/json", authorization: `Bearer ${actor.token}` },
    tags: { name: "add-members" },
  }) as http.RefinedResponse<"text">;
  return Number(must(res, `add ${userIds.length} members to ${groupId}`).headSeq);
}

export function loginRequest(target: string, username: string): http.RefinedResponse<"text"> {
  return http.post(`${target}/v1/sessions`, JSON.stringify({ username, password: PASSWORD }), {
    headers: { "content-type": "application/json" },
    tags: { name: "login" },
  }) as http.RefinedResponse<"text">;
}

export function createGroup(target: string, owner: TestUser, name: string, members: string[]): string {
  const headers = { "content-type": "application/json", authorization: `Bearer ${owner.token}` };
  const created = must(
    http.post(`${target}/v1/groups`, JSON.stringify({ name }), { headers }) as http.RefinedResponse<"text">,
    `create group ${name}`,
  );
  const groupId = String(created.groupId);
  for (let i = 0; i < members.length; i += 1000) {
    must(
      http.post(`${target}/v1/groups/${groupId}/members`, JSON.stringify({ userIds: members.slice(i, i + 1000) }), {
        headers,
      }) as http.RefinedResponse<"text">,
      `add members to ${name}`,
    );
  }
  return groupId;
}

/** Fails setup() at once, naming the URL, when the platform does not answer. */
export function requireReady(target: string): void {
  const res = http.get(`${target}/lb/healthz`, {
    tags: { name: "readiness" },
    responseCallback: http.expectedStatuses(200, 404),
  });
  if (res.status === 200) return;
  // A Gateway API edge (the kubernetes target) has no /lb/healthz of its own: a sign-in without a body, which
  // user-center refuses with 400, shows the route reaches a live service (no route: 404; no ready backend: 503).
  if (res.status === 404) {
    const probe = http.post(`${target}/v1/sessions`, "{}", {
      headers: { "content-type": "application/json" },
      tags: { name: "readiness" },
      responseCallback: http.expectedStatuses(400),
    });
    if (probe.status === 400) return;
    throw new Error(`target ${target} is not ready: POST /v1/sessions answered ${probe.status} (expected 400)`);
  }
  throw new Error(
    `target ${target} is not ready: GET /lb/healthz answered ${res.status}; bring it up first (imctl local up)`,
  );
}
