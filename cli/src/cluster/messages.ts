/**
 * The embedded cluster's messages, asserted verbatim by tests. They sit below the commands (cli/src/cluster is a
 * library the `cluster` command and the integration tests call), so the command re-exports them.
 */
export const CLUSTER_MESSAGES = {
  noOpenssl:
    'the embedded cluster needs the "openssl" CLI to make its CA and serving certificate and none is on PATH: ' +
    "install it (apt-get install openssl); nothing was changed",
  missingTool: (tool: string, path: string) =>
    `tool "${tool}" is not installed (looked for ${path}): run "npx imctl tools install --all"; nothing was changed`,
  noFreePorts: (count: number, from: number) =>
    `no ${count} free ports on 127.0.0.1 from ${from}: free some ports; nothing was changed`,
  portTaken: (port: number, component: string) =>
    `port ${port} of ${component} (recorded in the cluster's state) is in use by another process: free it, or run ` +
    `"imctl cluster down --yes" and "imctl cluster up" for new ports`,
  notRunning: "the embedded cluster is not running: imctl cluster up starts it",
  noRealNode: "the embedded cluster has no real node: imctl cluster up --nodes real adds one",
  badTag: (got: string) =>
    `--tag: got ${JSON.stringify(got.slice(0, 80))}; allowed: an image tag (letters, digits, '.', '_', '-', at most ` +
    "128, not starting with '.' or '-'), e.g. 2.0.0",
  confirmDown:
    "down stops the embedded cluster and deletes its data (etcd, certificates, kubeconfig, logs): pass --yes to confirm",
  unknownComponent: (name: string, allowed: readonly string[]) =>
    `component: got "${name}"; allowed: ${allowed.join(", ")}`,
  simulated:
    "pods on the simulated (kwok) nodes do not run: no container starts; kwok only writes their status " +
    "(Running and Ready, Jobs Succeeded)",
} as const;
