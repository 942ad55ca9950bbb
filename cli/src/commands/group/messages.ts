/** The group command's messages, asserted verbatim by tests (test/bad-input.test.ts, group.test.ts). */
export const GROUP_MESSAGES = {
  badGroupId: (got: string) =>
    `group id: got ${JSON.stringify(got)}; allowed: a decimal group id, e.g. 7301234567890123456`,
  unknownGroup: (id: string) =>
    `group id: got "${id}"; no such group on this platform (allowed: an existing group's id)`,
  badReply: (why: string) => `user-center answered the group status with something imctl does not understand: ${why}`,
  badSubGroups: (got: number, lo: number, hi: number, has: number) =>
    lo > hi
      ? `--sub-groups: got ${got}; the group already has ${has} sub-groups, the most ` +
        `messaging.groups.maxSubGroups allows (${hi}): it cannot grow`
      : `--sub-groups: got ${got}; allowed: ${lo} to ${hi} (the group has ${has} sub-groups; messaging.groups.maxSubGroups is ${hi})`,
  noGrowthNeeded: (id: string, members: number, has: number, lo: number, hi: number) =>
    `--sub-groups: not given, and group ${id}'s ${members} members fit its ${has} sub-groups; allowed: ` +
    (lo > hi ? "none, the group has the most sub-groups messaging.groups.maxSubGroups allows" : `${lo} to ${hi}`),
  moveRunning: (id: string, pid: number) =>
    `group id: "${id}" has a move running in imctl pid ${pid}; allowed: one move per group at a time ` +
    `(imctl group status ${id}; imctl group rollback ${id} --yes)`,
  moveOpen: (id: string, moveId: string) =>
    `group id: "${id}" has an unfinished move (${moveId}) and no imctl running it; allowed: a group without an open ` +
    `move (roll it back: imctl group rollback ${id} --yes)`,
  autoMoveOpen: (id: string, moveId: string) =>
    `group id: "${id}" has an automatic move (${moveId}) in progress (messaging.groups.autoGrow); allowed: a group ` +
    `without an open move (watch it: imctl group status ${id}; stop it: imctl group rollback ${id} --yes)`,
  planConflict: (id: string, why: string) =>
    `group id: "${id}": the platform refused the plan (${why}); allowed: a group without an open move ` +
    `(imctl group status ${id})`,
  noMove: (id: string) => `group id: "${id}" has no open move to roll back; allowed: a group whose move is in progress`,
  noMetrics: (stack: string) =>
    `kubernetes.prometheus: got nothing in ${stack}; allowed: { url: <Prometheus base URL> } or { service: ` +
    "<namespace>/<service>:<port> } (a move's analysis reads each sub-group's fan-out lag from it)",
  confirmRollback: (id: string, moveId: string, switched: number) =>
    `group rollback ${id} puts the ${switched} members move ${moveId} switched back into their old sub-groups: pass --yes to confirm`,
} as const;
