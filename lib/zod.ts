/**
 * The one way product code loads zod, as a namespace: `import * as z from "../lib/zod"`. `npm run
 * build` replaces this module's compiled form, build/lib/zod.js, with a single-file bundle of zod
 * (lib/build/bundleTools.ts, `bundleZod`): zod's CommonJS entry is some 230 files, and loading them
 * is the largest part of what the program's evaluation costs beyond the SDKs' own (`npm run bench`
 * prints the evaluation ratio). Types, and the tests, which run the TypeScript sources, use zod itself.
 *
 * Why a namespace rather than zod's `z` object: esbuild resolves `z.string` on a namespace import
 * to the one export, so a tool's bundle holds only the parts of zod its schemas use (about half
 * of it); zod's `z` is an object holding everything, which a bundle must keep whole.
 */
export * from "zod";

/**
 * Options for the parses of the Cloudron client, the requests and the release record, which run
 * in short-lived processes (a tool parses each schema once or twice, and the engine loads the
 * program afresh for every run). Without them an object schema compiles a parser of its own
 * (`new Function`) at its first parse, which pays back only over many parses of that schema; with
 * them zod takes its interpreted path, with the same answers (`npm run bench`, "zod's first parse").
 */
export const ONE_SHOT_PARSE = { jitless: true } as const;
