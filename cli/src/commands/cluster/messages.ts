/** The `cluster` command's messages: those of the embedded-cluster library it runs (asserted verbatim by tests). */
export { CLUSTER_MESSAGES } from "../../cluster/messages.ts";
