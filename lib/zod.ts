/**
 * The one way product code loads zod. `npm run build` replaces this module's compiled form,
 * build/lib/zod.js, with a single-file bundle of zod (lib/build/bundleTools.ts, `bundleZod`):
 * zod's CommonJS entry is some 230 files, and loading them is the largest part of what the
 * program's evaluation costs beyond the SDKs' own (`npm run bench` prints the evaluation ratio).
 * Types, and the tests, which run the TypeScript sources, use zod itself.
 */
export { z } from "zod";
