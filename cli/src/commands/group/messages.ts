/** The group command's messages, asserted verbatim by tests (test/bad-input.test.ts, group.test.ts). */
export const GROUP_MESSAGES = {
  badGroupId: (got: string) =>
    `group id: got ${JSON.stringify(got)}; allowed: a decimal group id, e.g. 7301234567890123456`,
  unknownGroup: (id: string) =>
    `group id: got "${id}"; no such group on this platform (allowed: an existing group's id)`,
  badReply: (why: string) => `user-center answered the group status with something imctl does not understand: ${why}`,
} as const;
