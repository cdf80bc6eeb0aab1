/**
 * The Prisma migrations an app checkout (or a git tag of it) carries, and how they compare with
 * the list recorded when an image was deployed. The app's `scripts/start.sh` runs
 * `prisma migrate deploy` on every container start, so the migrations an image carries are the
 * ones its first start applies: knowing the lists is knowing what a release does to the database.
 *
 * Layout (Prisma): `<appDir>/prisma/migrations/<timestamp>_<name>/migration.sql`, applied in the
 * order of the directory names. Files beside the directories (migration_lock.toml) are not
 * migrations.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { catFiles } from "../../release/releaseHistory";
import {
  classifyMigrationSql,
  newClassificationContext,
  type ClassifiedStatement,
  type MigrationRisk,
} from "./classifier";

/** Where Prisma keeps migrations, relative to the app checkout. */
export const MIGRATIONS_DIR = "prisma/migrations";

/** One migration as found in a checkout or a git tree. */
export interface MigrationFile {
  /** Directory name, e.g. `20240601120000_add_rule_slug`; Prisma's migration name. */
  name: string;
  /** sha256 (hex) of migration.sql's bytes. */
  sha256: string;
  /** migration.sql, as text. */
  sql: string;
  /** `prisma/migrations/<name>/migration.sql`, relative to the checkout. */
  path: string;
}

/**
 * What the deploy step records for each migration the database has been taken through
 * (non-secret state): the deployed image's list, plus after a rollback the newer ones the schema
 * keeps. A later release tells new migrations from edited ones with it, and a later rollback
 * knows what it leaves behind without the SQL at hand.
 */
export interface RecordedMigration {
  name: string;
  sha256: string;
  /** Worst class of its statements, when it was classified at record time. */
  risk?: MigrationRisk;
  /** One-line summary of its statements (see {@link summarizeMigration}). */
  summary?: string;
}

/** A migration with its statements classified. */
export interface ClassifiedMigration extends MigrationFile {
  risk: MigrationRisk;
  statements: ClassifiedStatement[];
  /** "creates table Rule; adds column User.slug" (bookkeeping statements left out). */
  summary: string;
}

/** A checkout whose migrations cannot be listed the way Prisma would apply them. */
export class MigrationListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MigrationListError";
  }
}

/** sha256 (hex) of a file's bytes, as recorded and compared. */
export function sha256Hex(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Code-unit order, as Prisma sorts directory names (never locale order). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The file operations {@link listMigrations} needs; tests and git trees substitute their own. */
export interface MigrationTreeReader {
  /**
   * Entries directly under `dir` (relative to the checkout) with whether each is a directory;
   * undefined when `dir` does not exist.
   */
  list(dir: string): Array<{ name: string; isDirectory: boolean }> | undefined;
  /** A file's bytes, or undefined when it does not exist. */
  read(file: string): Buffer | undefined;
}

/** Reads a checkout on disk. */
export function checkoutReader(appDir: string): MigrationTreeReader {
  return {
    list(dir) {
      const abs = path.join(appDir, dir);
      if (!fs.existsSync(abs)) return undefined;
      return fs.readdirSync(abs, { withFileTypes: true }).map((e) => ({ name: e.name, isDirectory: e.isDirectory() }));
    },
    read(file) {
      const abs = path.join(appDir, file);
      return fs.existsSync(abs) ? fs.readFileSync(abs) : undefined;
    },
  };
}

/**
 * Reads the tree of a git ref (`0.1.9`, `v0.1.9`, a commit) of the checkout, without checking it
 * out: how a rollback learns what an older release carried when nothing was recorded for it.
 * Throws {@link MigrationListError} when the ref does not exist.
 */
export function gitRefReader(appDir: string, ref: string): MigrationTreeReader {
  const git = (args: string[]) =>
    execFileSync("git", ["-C", appDir, ...args], { stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
  try {
    git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
  } catch {
    throw new MigrationListError(
      `no git ref "${ref}" in ${appDir}: fetch the release tags (git -C ${appDir} fetch --tags) or point --app-dir ` +
        `at a checkout of that release`,
    );
  }
  let blobs: Map<string, Buffer> | undefined;
  return {
    list(dir) {
      // `ref:./path` is relative to appDir, so an app checkout inside a larger repository works too.
      const out = git(["ls-tree", `${ref}:./${dir}`]).toString("utf8");
      return out
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => {
          const [meta, name] = l.split("\t");
          return { name, isDirectory: meta.split(" ")[1] === "tree" };
        });
    },
    read(file) {
      // The first read fetches every file under the migrations directory in one `cat-file --batch`
      // (a git process per file made a review of the real history's 8 migrations take seconds).
      if (!blobs) blobs = readTreeBlobs(appDir, ref, MIGRATIONS_DIR);
      if (blobs.has(file)) return blobs.get(file);
      try {
        return git(["show", `${ref}:./${file}`]);
      } catch {
        return undefined;
      }
    },
  };
}

/** Every file under `dir` at `ref`, by path relative to the checkout, read in one batch. */
function readTreeBlobs(appDir: string, ref: string, dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let listing: string;
  try {
    listing = execFileSync("git", ["-C", appDir, "ls-tree", "-r", `${ref}:./${dir}`], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch {
    return out;
  }
  const entries = listing
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const [meta, name] = l.split("\t");
      return { path: `${dir}/${name}`, blob: meta.split(" ")[2] };
    });
  const contents = catFiles(
    appDir,
    entries.map((e) => e.blob),
  );
  entries.forEach((e, k) => {
    const bytes = contents[k];
    if (bytes) out.set(e.path, bytes);
  });
  return out;
}

/**
 * The migrations of a checkout in the order `prisma migrate deploy` applies them. A checkout
 * without `prisma/migrations` has none. A migration directory without migration.sql is an error:
 * Prisma would stop on it at container start.
 */
export function listMigrations(reader: MigrationTreeReader): MigrationFile[] {
  let entries: ReturnType<MigrationTreeReader["list"]>;
  try {
    entries = reader.list(MIGRATIONS_DIR);
  } catch {
    entries = undefined;
  }
  if (!entries) return [];
  const out: MigrationFile[] = [];
  for (const entry of entries.filter((e) => e.isDirectory).sort((a, b) => compareNames(a.name, b.name))) {
    const file = `${MIGRATIONS_DIR}/${entry.name}/migration.sql`;
    const bytes = reader.read(file);
    if (bytes === undefined) {
      throw new MigrationListError(
        `${file} is missing: every migration directory needs its migration.sql (prisma migrate deploy stops on it ` +
          `at container start)`,
      );
    }
    out.push({ name: entry.name, sha256: sha256Hex(bytes), sql: bytes.toString("utf8"), path: file });
  }
  return out;
}

/** {@link listMigrations} of a checkout on disk. */
export function listCheckoutMigrations(appDir: string): MigrationFile[] {
  return listMigrations(checkoutReader(appDir));
}

/**
 * Classifies migrations in order. The context runs across them, so a table created by an
 * earlier migration of the same batch counts as empty for the later ones.
 */
export function classifyMigrations(files: readonly MigrationFile[]): ClassifiedMigration[] {
  const ctx = newClassificationContext();
  return files.map((f) => {
    const { risk, statements } = classifyMigrationSql(f.sql, ctx);
    return { ...f, risk, statements, summary: summarizeStatements(statements) };
  });
}

function summarizeStatements(statements: readonly ClassifiedStatement[]): string {
  const shown = statements.filter((s) => !s.bookkeeping).map((s) => s.summary);
  return shown.length > 0 ? shown.join("; ") : "no statements";
}

/** "20240601120000_add_slug [additive]: adds column Rule.slug; creates index …" */
export function summarizeMigration(m: { name: string; risk?: MigrationRisk; summary?: string }): string {
  return `${m.name} [${m.risk ?? "unclassified"}]${m.summary ? `: ${m.summary}` : ""}`;
}

/** The list the deploy step records for an image: names, hashes, classes and summaries. */
export function recordMigrations(migrations: readonly ClassifiedMigration[]): RecordedMigration[] {
  return migrations.map((m) => ({ name: m.name, sha256: m.sha256, risk: m.risk, summary: m.summary }));
}

/** A recorded migration whose file in the checkout no longer has the recorded bytes. */
export interface EditedMigration {
  name: string;
  path: string;
  recordedSha256: string;
  checkoutSha256: string;
}

/** A recorded list against a checkout's list. */
export interface MigrationComparison {
  /** In the checkout, not recorded: what `prisma migrate deploy` applies at the next start. */
  pending: string[];
  /** Recorded with another hash: an applied migration was edited. */
  edited: EditedMigration[];
  /** Recorded, absent from the checkout: the checkout is behind what runs. */
  missing: string[];
  /** Pending migrations whose names sort before the newest recorded one (a merged older branch). */
  outOfOrder: string[];
}

/** Compares what a deployed image carried (`recorded`) with a checkout (`checkout`). */
export function compareMigrations(
  recorded: readonly RecordedMigration[],
  checkout: readonly MigrationFile[],
): MigrationComparison {
  const recordedByName = new Map(recorded.map((m) => [m.name, m]));
  const checkoutNames = new Set(checkout.map((m) => m.name));
  const newestRecorded = [...recordedByName.keys()].sort(compareNames).pop();
  const pending: string[] = [];
  const edited: EditedMigration[] = [];
  const outOfOrder: string[] = [];
  for (const m of checkout) {
    const was = recordedByName.get(m.name);
    if (!was) {
      pending.push(m.name);
      if (newestRecorded !== undefined && compareNames(m.name, newestRecorded) < 0) outOfOrder.push(m.name);
    } else if (was.sha256 !== m.sha256) {
      edited.push({ name: m.name, path: m.path, recordedSha256: was.sha256, checkoutSha256: m.sha256 });
    }
  }
  const missing = recorded.map((m) => m.name).filter((n) => !checkoutNames.has(n));
  return { pending, edited, missing, outOfOrder };
}
