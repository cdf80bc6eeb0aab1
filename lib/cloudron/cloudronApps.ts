/**
 * Reading `cloudron inspect` and deciding what a deploy must do. Pure functions: the decision is
 * taken from the app's observed state (absent, ours, someone else's, busy, broken), never by trying
 * `install` and hoping, because the CLI has no install-or-update mode and answers 409 when a
 * location is taken.
 */

/** What this program needs to know about one app on the server. */
export interface ObservedApp {
  id: string;
  fqdn: string;
  manifestId: string;
  version: string;
  image: string;
  installationState: string;
  runState: string;
  health: string;
  taskId: string | null;
  error: string | null;
}

export interface ServerView {
  apiEndpoint: string;
  apps: ObservedApp[];
}

function str(v: unknown): string {
  return typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);
}

/**
 * Parses `cloudron inspect` output. Throws with the reason when the output is not the JSON this
 * program was written against, so a CLI that changed its format stops the run instead of being
 * read as "no apps" (which would lead to a second install).
 */
export function parseInspect(stdout: string): ServerView {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    throw new Error(`\`cloudron inspect\` did not print JSON (got: ${stdout.trim().slice(0, 120) || "nothing"})`);
  }
  const d = data as { apiEndpoint?: unknown; apps?: unknown };
  if (typeof d !== "object" || d === null || !Array.isArray(d.apps)) {
    throw new Error("`cloudron inspect` JSON has no apps[] list; this CLI version is not supported");
  }
  const apps = d.apps.map((raw): ObservedApp => {
    const a = raw as Record<string, unknown>;
    const manifest = (a.manifest ?? {}) as Record<string, unknown>;
    const fqdn = str(a.fqdn) || [str(a.subdomain ?? a.location), str(a.domain)].filter(Boolean).join(".");
    return {
      id: str(a.id),
      fqdn,
      manifestId: str(manifest.id),
      version: str(manifest.version),
      image: str(manifest.dockerImage),
      installationState: str(a.installationState),
      runState: str(a.runState),
      health: str(a.health),
      taskId: a.taskId === undefined || a.taskId === null ? null : str(a.taskId),
      error: a.error === undefined || a.error === null ? null : typeof a.error === "string" ? a.error : JSON.stringify(a.error),
    };
  });
  return { apiEndpoint: str(d.apiEndpoint), apps };
}

/** Normalises a server name for comparison (scheme, trailing slash and case are not significant). */
export function sameServer(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/^https?:\/\//, "").replace(/\/+$/, "").toLowerCase();
  return norm(a) === norm(b);
}

export type AppCondition = "absent" | "ready" | "busy" | "error";

/** Classifies an app: busy while a task runs or a state is pending, error when Cloudron says so. */
export function appCondition(app: ObservedApp | undefined): AppCondition {
  if (!app) return "absent";
  if (app.installationState === "error" || app.error) return "error";
  if (app.taskId || (app.installationState !== "installed" && app.installationState !== "")) return "busy";
  return "ready";
}

export type DeployDecision =
  | { action: "install" }
  | { action: "adopt-unchanged"; app: ObservedApp }
  | { action: "update"; app: ObservedApp; adopting: boolean }
  | { action: "refuse"; reason: string };

/**
 * Chooses install / update / nothing. `knownAppId` is the id this stack installed or adopted
 * before (empty on the first run): an app at the location with another id means it was replaced
 * behind this stack's back, which is also reported as adoption.
 */
export function decideDeploy(
  app: ObservedApp | undefined,
  want: { manifestId: string; image: string; version: string; location: string },
  knownAppId: string,
): DeployDecision {
  if (!app) return { action: "install" };
  if (app.manifestId !== want.manifestId) {
    return {
      action: "refuse",
      reason:
        `${want.location} is occupied by another app (manifest id ${app.manifestId || "unknown"}, not ${want.manifestId}). ` +
        `This program never updates someone else's app: pick another communityrule:location, or remove that app deliberately in the dashboard.`,
    };
  }
  const adopting = knownAppId === "" || knownAppId !== app.id;
  if (app.image === want.image && app.version === want.version) return { action: "adopt-unchanged", app };
  return { action: "update", app, adopting };
}

/** Finds the app serving a location. */
export function findApp(view: ServerView, location: string): ObservedApp | undefined {
  return view.apps.find((a) => a.fqdn.toLowerCase() === location.toLowerCase());
}
