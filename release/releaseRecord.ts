/**
 * What a deploy shipped, recorded on the Cloudron app itself so the next preview can read it.
 *
 * Where: the app's `notes` (Cloudron REST API, January 2026 description: `notes` is a field of
 * every app in `GET /apps` / `GET /apps/:id`, string or null, set with
 * `POST /apps/:appId/configure/notes`, which answers 200 with no task and no restart). Why there
 * and not in a stack output read back: the program's live check already reads `GET /apps` before
 * anything registers, in the preview pass and again in the update pass of `pulumi up` (the CLI
 * runs the program twice unless --skip-preview), so both passes see the same record with no extra
 * call and without the program reading its own stack's state (a stack reference to itself, which
 * during an update reads the checkpoint the running update is about to replace). The record also
 * goes wherever the app goes: an app adopted by another stack keeps it, and an app installed by
 * hand has none, which is how "nothing recorded" is told from "nothing installed".
 *
 * Format: one line `communityrule-release: {json}` among the notes; anything else an operator
 * wrote there is kept as it is.
 */
import * as z from "../lib/zod";
import { ONE_SHOT_PARSE } from "../lib/zod";

/** The marker of the record's line in the app's notes. */
export const RECORD_MARKER = "communityrule-release:";

/** What one deploy shipped. Never holds a secret (notes are visible to every admin). */
export const releaseRecordSchema = z.strictObject({
  /** Code version the app runs: the manifest version of the build, or the tag a rollback deployed. */
  version: z.string().min(1),
  /** The image Cloudron runs (`repo@sha256:…`). */
  image: z.string().min(1),
  /** App commit the image was built from (the checkout's HEAD, or the release's commit for build: false). */
  commit: z.string().optional(),
  /** Names of the migrations the database has been taken through (the image's, plus newer ones a rollback leaves). */
  migrations: z.array(z.string().min(1)),
  /** Cloudron's backup taken before this release, when an update took one: the restore path. */
  backupId: z.string().optional(),
  /** Fingerprint of the seed's sources in the image (steps/seed/seedContent.ts). */
  seed: z.string().optional(),
});
export type ReleaseRecord = z.infer<typeof releaseRecordSchema>;

/** The record in an app's notes; undefined when there is none (or it does not parse: treated as none). */
export function readReleaseRecord(notes: string | null | undefined): ReleaseRecord | undefined {
  const line = (notes ?? "").split("\n").find((l) => l.startsWith(RECORD_MARKER));
  if (!line) return undefined;
  try {
    const parsed = releaseRecordSchema.safeParse(JSON.parse(line.slice(RECORD_MARKER.length).trim()), ONE_SHOT_PARSE);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The notes with the record's line replaced (or appended); other lines stay as they are. */
export function writeReleaseRecord(notes: string | null | undefined, record: ReleaseRecord): string {
  const line = `${RECORD_MARKER} ${JSON.stringify(releaseRecordSchema.parse(record, ONE_SHOT_PARSE))}`;
  const others = (notes ?? "").split("\n").filter((l) => !l.startsWith(RECORD_MARKER));
  while (others.length > 0 && others[others.length - 1] === "") others.pop();
  return [...others, line].join("\n");
}

/**
 * What the migration review needs to know about the app at the location
 * (steps/migrations/deployMigrations.ts RunningRelease).
 */
export interface RunningFromApp {
  version: string;
  tag?: string;
  recordedMigrations?: readonly string[];
  preUpdateBackupId?: string;
}

/**
 * What runs at the location, from the app as the live check read it: its release record when it
 * has one; otherwise (installed by hand) the tag of the image it runs, else its manifest version,
 * from which the review derives its migrations. Undefined when nothing is installed.
 */
export function runningFromApp(
  app: { manifest: { version?: string; dockerImage?: string }; notes?: string | null } | undefined,
): RunningFromApp | undefined {
  if (!app) return undefined;
  const record = readReleaseRecord(app.notes);
  if (record) {
    return {
      version: record.version,
      recordedMigrations: record.migrations,
      ...(record.backupId ? { preUpdateBackupId: record.backupId } : {}),
    };
  }
  const image = app.manifest.dockerImage ?? "";
  const colon = image.lastIndexOf(":");
  const tag = !image.includes("@") && colon > image.lastIndexOf("/") ? image.slice(colon + 1) : undefined;
  return { version: tag ?? app.manifest.version ?? "", ...(tag ? { tag } : {}) };
}
