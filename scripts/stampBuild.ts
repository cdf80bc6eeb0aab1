/**
 * Last step of `npm run build`: records which sources build/ was compiled from (see
 * lib/build/sourceStamp.ts). Runs compiled, as `node build/scripts/stampBuild.js`.
 */
import { findProjectDir, writeSourceStamp } from "../lib/build/sourceStamp";

const projectDir = findProjectDir(__dirname);
const stamp = writeSourceStamp(projectDir);
process.stdout.write(`build/: compiled ${stamp.files} program sources (sha256 ${stamp.sourceHash.slice(0, 12)}…)\n`);
