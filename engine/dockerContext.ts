/**
 * The build-context digest `docker.Image` adds to its inputs, so an edited checkout shows as a
 * change even when the tag stays the same. After pulumi/pulumi-docker provider/provider.go at
 * 237b7899 (v5.1.0+24; package.json pins 5.2.0): `hashContext`, `contextHashAccumulator.hashPath`,
 * `getIgnorePatterns`.
 *
 * - The Dockerfile is hashed first under the name "Dockerfile" with mode 0, then every file of the
 *   context (walked in lexical order, directories skipped, `.dockerignore` patterns excluded) as:
 *   its slash path, Go's `FileMode.String()`, the sha256 of its content (of a symlink: of its
 *   target path), a 0 byte. The digest is the sha256 of all that, hex.
 * - Ignore patterns come from `<Dockerfile>.dockerignore` if present, else `<context>/.dockerignore`.
 *
 * Assumption (moby/patternmatcher and tonistiigi/fsutil were not read here): a pattern is
 * matched against the path and each of its parent directories, `*` and `?` stay within one path
 * segment, `**` crosses segments, a leading `!` re-includes, the last matching pattern decides.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** Go's `fs.FileMode.String()` for the modes a build context holds (regular files, symlinks). */
export function goFileModeString(mode: number, kind: "file" | "symlink" | "none"): string {
  const rwx = "rwxrwxrwx";
  let perms = "";
  for (let i = 0; i < 9; i++) perms += mode & (1 << (8 - i)) ? rwx[i] : "-";
  return (kind === "symlink" ? "L" : "-") + perms;
}

/** `.dockerignore` lines as patterns: comments and blank lines dropped, each cleaned. */
export function readIgnorePatterns(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const negated = l.startsWith("!");
      // Go filepath.Clean: no trailing slash; patterns are relative to the context root.
      const body = path.posix
        .normalize((negated ? l.slice(1) : l).trim())
        .replace(/^\/+/, "")
        .replace(/(.)\/+$/, "$1");
      return (negated ? "!" : "") + body;
    });
}

function patternRegex(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      re += ".*";
      i++;
      if (pattern[i + 1] === "/") i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Whether `rel` (slash path within the context) is excluded by the patterns. */
export function isIgnored(rel: string, patterns: readonly string[]): boolean {
  const candidates = rel.split("/").map((_, i, parts) => parts.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const p of patterns) {
    const negated = p.startsWith("!");
    const re = patternRegex(negated ? p.slice(1) : p);
    if (candidates.some((c) => re.test(c))) ignored = !negated;
  }
  return ignored;
}

function ignorePatterns(context: string, dockerfile: string): string[] {
  for (const file of [`${dockerfile}.dockerignore`, path.join(context, ".dockerignore")]) {
    if (fs.existsSync(file)) return readIgnorePatterns(fs.readFileSync(file, "utf8"));
  }
  return [];
}

function walk(root: string, rel: string, out: string[]) {
  const dir = path.join(root, rel);
  for (const name of fs.readdirSync(dir).sort()) {
    const child = rel ? `${rel}/${name}` : name;
    const stat = fs.lstatSync(path.join(root, child));
    if (stat.isDirectory()) walk(root, child, out);
    else out.push(child);
  }
}

/** The context digest of `context` with `dockerfile` (paths as the provider resolves them). */
export function hashContext(context: string, dockerfile: string): string {
  const patterns = ignorePatterns(context, dockerfile);
  const input: Buffer[] = [];
  const add = (file: string, name: string, mode: string, symlink: boolean) => {
    const content = symlink ? Buffer.from(fs.realpathSync(file)) : fs.readFileSync(file);
    input.push(
      Buffer.from(name),
      Buffer.from(mode),
      crypto.createHash("sha256").update(content).digest(),
      Buffer.from([0]),
    );
  };
  add(dockerfile, "Dockerfile", goFileModeString(0, "none"), false);
  const files: string[] = [];
  walk(context, "", files);
  for (const rel of files.filter((f) => !isIgnored(f, patterns))) {
    const full = path.join(context, rel);
    const stat = fs.lstatSync(full);
    const symlink = stat.isSymbolicLink();
    add(full, rel, goFileModeString(stat.mode & 0o777, symlink ? "symlink" : "file"), symlink);
  }
  return crypto.createHash("sha256").update(Buffer.concat(input)).digest("hex");
}

/**
 * What the build emulation seeds its pushed content with: the context digest and the tag, so the
 * same context and tag give the same image digest and a changed context another (tests predict it).
 */
export function emulatedBuildSeed(contextDigest: string, tag: string): string {
  return `${contextDigest}:${tag}`;
}
