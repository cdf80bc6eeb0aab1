/**
 * What a failed health gate adds to its message when it knows the app and the server
 * (steps/health/cli.ts): the app's last log lines, masked, and the troubleshooting row they point to.
 */
import type { HealthGateError } from "./poll";
import { CloudronApi, resolveToken } from "../../cloudron/client";
import { formatFailureReport, gatherEvidence } from "../../cloudron/failureReport";

/** The app's last log lines and the row they point to, read from Cloudron; a note when they cannot be read. */
export async function appLogReport(
  e: HealthGateError,
  o: { app: string; server: string; envToken?: string },
): Promise<string> {
  let api: CloudronApi;
  try {
    const { token } = resolveToken({ server: o.server, envToken: o.envToken || undefined });
    api = new CloudronApi({
      server: o.server,
      token,
      taskTimeoutSeconds: 30,
      busyWaitSeconds: 0,
      readRetries: 1,
      log: () => {},
    });
  } catch (err) {
    return `app log not fetched: ${(err as Error).message}`;
  }
  const evidence = await gatherEvidence(api, { step: "health", location: o.app });
  const health = { status: e.lastStatus, body: e.lastBody };
  return formatFailureReport({ step: "health", app: o.app, message: e.message, health }, evidence, (t) =>
    api.mask.apply(t),
  );
}
