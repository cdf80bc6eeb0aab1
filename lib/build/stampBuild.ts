/**
 * Last step of `npm run build`: records which sources build/ was compiled from (see
 * lib/build/sourceStamp.ts). Runs compiled, as `node build/lib/build/stampBuild.js`; prints nothing.
 */
import { findProjectDir } from "../projectDir";
import { writeSourceStamp } from "./sourceStamp";

const projectDir = findProjectDir(__dirname);
// Silent on success: commands that build first (rehearse, bench) keep their stdout their own.
writeSourceStamp(projectDir);
