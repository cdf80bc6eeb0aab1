/**
 * The app's real manifest, as the engine and the tests use it: a copy of
 * ../shared/fixtures/community-rule/CloudronManifest.json, so CI needs no shared/. One file, so a
 * change to the manifest is made once.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { findProjectDir } from "../lib/projectDir";

// findProjectDir, not `__dirname/..`: this file also runs compiled from build/engine/ (npm run rehearse, bench).
/** The app checkout the engine, the rehearsal and the tests deploy: its manifest and Dockerfile. */
export const FIXTURE_APP_DIR = path.join(findProjectDir(__dirname), "engine", "fixtures", "community-rule");

export const FIXTURE_MANIFEST = path.join(FIXTURE_APP_DIR, "CloudronManifest.json");

/** A fresh parse of the fixture manifest: the caller may override fields of its own copy. */
export function readFixtureManifest(): { id: string; version: string } & Record<string, unknown> {
  return JSON.parse(fs.readFileSync(FIXTURE_MANIFEST, "utf8")) as { id: string; version: string } & Record<
    string,
    unknown
  >;
}
