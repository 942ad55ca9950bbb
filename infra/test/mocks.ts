/**
 * The mocks helper moved to infra/mocks.ts (imctl plan runs it too, and product code does not import from test/).
 * This path re-exports it so tests written against the old location keep working.
 */
export * from "../mocks.ts";
